package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one measurement next to its peer.
type Row struct {
	Name       string   `json:"name"`
	Unit       string   `json:"unit"`
	Project    float64  `json:"project"`
	Peer       string   `json:"peer"`        // what the peer is, or why it did not run
	PeerValue  *float64 `json:"peer_value"`  // nil: no peer, or it could not run
	Ratio      *float64 `json:"ratio"`       // project / peer
	SameAnswer *bool    `json:"same_answer"` // nil: not applicable or not checked
}

// Goal is one target of the core issue and whether the run met it.
type Goal struct {
	Text   string
	Value  string
	Met    bool
	Reason string // why it could not be judged, if so
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int
	CPUModel   string
	MemoryGiB  float64
	GoVersion  string
	GOMAXPROCS int
	OS         string
}

// Report is the outcome of a bench run.
type Report struct {
	Machine  Machine
	Rows     []Row
	Goals    []Goal
	Notes    []string
	Failures []string
}

func ptr[T any](v T) *T { return &v }

// add appends a row; peerValue < 0 or NaN means the peer did not run.
func (r *Report) add(name, unit string, project float64, peer string, peerValue float64, same *bool) {
	row := Row{Name: name, Unit: unit, Project: round(project), Peer: peer, SameAnswer: same}
	if !math.IsNaN(peerValue) && peerValue >= 0 {
		row.PeerValue = ptr(round(peerValue))
		if peerValue > 0 {
			row.Ratio = ptr(math.Round(project/peerValue*1000) / 1000)
		}
	}
	r.Rows = append(r.Rows, row)
}

func round(v float64) float64 {
	switch a := math.Abs(v); {
	case a >= 1000:
		return math.Round(v)
	case a >= 10:
		return math.Round(v*10) / 10
	default:
		return math.Round(v*1000) / 1000
	}
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Report) fail(section string, err error) {
	r.Failures = append(r.Failures, section+": "+err.Error())
}

// DescribeMachine reads the CPU model and memory from /proc.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CPUModel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = math.Round(kb/1024/1024*10) / 10
			}
		}
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (nproc; GOMAXPROCS %d), %s, %.1f GiB memory, %s, %s", m.CPUs, m.GOMAXPROCS, m.CPUModel, m.MemoryGiB, m.GoVersion, m.OS)
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// WriteTable prints the machine, the rows as a table, the goals, notes and
// failures.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tunit\thealthcode\tpeer\tpeer value\tratio\tsame answer\t")
	for _, row := range r.Rows {
		pv, ratio, same := "—", "—", "—"
		if row.PeerValue != nil {
			pv = fmtNum(*row.PeerValue)
		}
		if row.Ratio != nil {
			ratio = strconv.FormatFloat(*row.Ratio, 'f', 2, 64) + "×"
		}
		if row.SameAnswer != nil {
			same = strconv.FormatBool(*row.SameAnswer)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Name, row.Unit, fmtNum(row.Project), row.Peer, pv, ratio, same)
	}
	tw.Flush()
	r.writeGoals(w)
}

func (r *Report) writeGoals(w io.Writer) {
	if len(r.Goals) > 0 {
		fmt.Fprintln(w, "\ngoals:")
		for _, g := range r.Goals {
			verdict := "NOT MET"
			if g.Met {
				verdict = "met"
			}
			if g.Reason != "" {
				verdict = "not judged: " + g.Reason
			}
			fmt.Fprintf(w, "  %-52s %-28s %s\n", g.Text, g.Value, verdict)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "\nfailed:")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
}

// WriteJSON prints the rows as a JSON list; the machine, goals, notes and
// failures go to extra (stderr) as text.
func (r *Report) WriteJSON(w, extra io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	rows := r.Rows
	if rows == nil {
		rows = []Row{}
	}
	if err := enc.Encode(rows); err != nil {
		return err
	}
	fmt.Fprintf(extra, "machine: %s\n", r.Machine)
	r.writeGoals(extra)
	return nil
}
