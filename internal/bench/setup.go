package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
)

// IDNumber returns the i-th synthetic resident ID number: region 110101, a
// birth date 1950-01-01 plus i/1000 days, sequence i%1000 and the GB 11643
// check character. Distinct for i below about 27 million.
func IDNumber(i int) string {
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000)
	b := make([]byte, 0, 18)
	b = append(b, "110101"...)
	b = birth.AppendFormat(b, "20060102")
	seq := i % 1000
	b = append(b, byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10))
	b = append(b, health.IDCheckDigit(string(b)))
	return string(b)
}

// homeRegions returns county codes to spread homes and places over.
func homeRegions() ([]string, error) {
	t, err := region.Default()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, under := range []string{"110000", "310000", "440100", "330100", "510100"} {
		for _, r := range t.Counties(under) {
			out = append(out, r.Code)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no county regions found")
	}
	return out, nil
}

// parallel runs fn(i) for i in [0, count) on workers goroutines and returns
// the first error.
func parallel(ctx context.Context, count, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(count))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// EnrolPersons enrols count persons with synthetic identities (ID numbers
// from first) through node.Enrol, in batches on a few goroutines so that
// group commit can combine them. progress receives the number done.
func EnrolPersons(ctx context.Context, n *node.Node, first, count int, progress func(int)) error {
	homes, err := homeRegions()
	if err != nil {
		return err
	}
	const batch = 5000
	var done atomic.Int64
	return parallel(ctx, (count+batch-1)/batch, 4, func(b int) error {
		lo, hi := first+b*batch, first+min((b+1)*batch, count)
		in := make([]node.Enrolment, 0, hi-lo)
		for i := lo; i < hi; i++ {
			in = append(in, node.Enrolment{IDNumber: IDNumber(i), Name: "测试" + strconv.Itoa(i%10000),
				Phone: "138" + fmt.Sprintf("%08d", i%100000000), HomeRegion: homes[i%len(homes)]})
		}
		out, err := n.Enrol(ctx, "staff:admin", in)
		if err != nil {
			return fmt.Errorf("enrol: %w", err)
		}
		for _, e := range out {
			if e.Existing {
				return fmt.Errorf("enrol: synthetic ID number already enrolled (person %d)", e.Person)
			}
		}
		if progress != nil {
			progress(int(done.Add(int64(len(in)))))
		}
		return nil
	})
}

// ResultMix says which persons get which lab results: 1% red (a positive two
// hours ago), 0.5% yellow (a positive four days ago, then two negatives 24 h
// apart: health monitoring until tomorrow), 2% green with a recent negative.
type ResultMix struct{ Red, Yellow, Negative int }

func resultKind(p uint32) int {
	switch {
	case p%100 == 7:
		return 1 // red
	case p%200 == 13:
		return 2 // yellow
	case p%50 == 3:
		return 3 // negative
	}
	return 0
}

// ResultCount returns the number of lab results UploadResults uploads.
func ResultCount(persons int) int {
	n := 0
	for p := uint32(1); p <= uint32(persons); p++ {
		switch resultKind(p) {
		case 1, 3:
			n++
		case 2:
			n += 3
		}
	}
	return n
}

// UploadResults uploads the lab results of the mix for persons 1..persons
// through node.UploadResults, in batches of 10,000.
func UploadResults(ctx context.Context, n *node.Node, persons int, progress func(int)) (ResultMix, error) {
	var mix ResultMix
	now := n.Now().Truncate(time.Second)
	var in []node.ResultInput
	add := func(p uint32, k int, at time.Time, r health.Result) {
		in = append(in, node.ResultInput{SampleID: "S" + strconv.Itoa(int(p)) + "-" + strconv.Itoa(k), Person: p, SampledAt: at, Result: r})
	}
	for p := uint32(1); p <= uint32(persons); p++ {
		switch resultKind(p) {
		case 1:
			add(p, 1, now.Add(-2*time.Hour), health.Positive)
			mix.Red++
		case 2:
			add(p, 1, now.Add(-96*time.Hour), health.Positive)
			add(p, 2, now.Add(-72*time.Hour), health.Negative)
			add(p, 3, now.Add(-48*time.Hour), health.Negative)
			mix.Yellow++
		case 3:
			add(p, 1, now.Add(-12*time.Hour), health.Negative)
			mix.Negative++
		}
	}
	const batch = 10000
	var done atomic.Int64
	err := parallel(ctx, (len(in)+batch-1)/batch, 2, func(b int) error {
		part := in[b*batch : min((b+1)*batch, len(in))]
		if _, err := n.UploadResults(ctx, "lab:bench/staff:admin", "bench-lab", part); err != nil {
			return fmt.Errorf("upload results: %w", err)
		}
		if progress != nil {
			progress(int(done.Add(int64(len(part)))))
		}
		return nil
	})
	return mix, err
}

var placeKinds = []string{"restaurant", "supermarket", "office", "residence", "mall", "transport_hub", "school", "hospital"}

// RegisterPlaces registers count places through node.RegisterPlace.
func RegisterPlaces(ctx context.Context, n *node.Node, count int, progress func(int)) error {
	homes, err := homeRegions()
	if err != nil {
		return err
	}
	var done atomic.Int64
	return parallel(ctx, count, 16, func(i int) error {
		_, err := n.RegisterPlace(ctx, "staff:admin", node.PlaceInput{Name: "基准场所 " + strconv.Itoa(i+1),
			Kind: placeKinds[i%len(placeKinds)], Region: homes[(i*7)%len(homes)], Lat: 23 + float64(i%1000)/1000, Lng: 113 + float64(i%997)/1000})
		if err != nil {
			return fmt.Errorf("register place: %w", err)
		}
		if progress != nil {
			progress(int(done.Add(1)))
		}
		return nil
	})
}

// GenVisits returns count random visits of persons 1..persons at places
// 1..places, starting in the last six days before now, 30 to 180 minutes long.
func GenVisits(count, persons, places int, now time.Time, seed uint64) []VisitRow {
	rng := rand.New(rand.NewPCG(seed, 99))
	end := now.Add(-10 * time.Minute).Unix()
	span := int64(6 * 24 * 3600)
	out := make([]VisitRow, count)
	for i := range out {
		at := end - rng.Int64N(span)
		out[i] = VisitRow{Person: uint32(rng.IntN(persons)) + 1, Place: uint32(rng.IntN(places)) + 1,
			At: at, Until: at + 60*(30+rng.Int64N(151))}
	}
	return out
}

// EncodeVisitBatches pre-encodes the rows as POST /api/v1/visits bodies of
// batch visits each.
func EncodeVisitBatches(rows []VisitRow, batch int) [][]byte {
	var out [][]byte
	for lo := 0; lo < len(rows); lo += batch {
		part := rows[lo:min(lo+batch, len(rows))]
		b := make([]byte, 0, len(part)*110+16)
		b = append(b, `{"visits":[`...)
		for i, r := range part {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"person_id":"p`...)
			b = strconv.AppendUint(b, uint64(r.Person), 10)
			b = append(b, `","place_code":"HCP1:L`...)
			b = strconv.AppendUint(b, uint64(r.Place), 10)
			b = append(b, `","at":"`...)
			b = time.Unix(r.At, 0).UTC().AppendFormat(b, time.RFC3339)
			b = append(b, `","until":"`...)
			b = time.Unix(r.Until, 0).UTC().AppendFormat(b, time.RFC3339)
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
		out = append(out, b)
	}
	return out
}

// IngestResult is the outcome of posting visit batches over HTTP.
type IngestResult struct {
	Accepted int64
	Elapsed  time.Duration
}

// Rate returns visits per second.
func (r IngestResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// PostVisits posts the pre-encoded bodies to base/api/v1/visits with the
// staff token from clients goroutines at once and waits for every answer.
// Every batch must be acknowledged with 201 and its full count.
func PostVisits(ctx context.Context, base, token string, bodies [][]byte, perBatch []int, clients int, progress func(int)) (IngestResult, error) {
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients,
		MaxConnsPerHost: clients, DisableCompression: true}}
	defer hc.CloseIdleConnections()
	var accepted atomic.Int64
	start := time.Now()
	err := parallel(ctx, len(bodies), clients, func(i int) error {
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/visits", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("post visits: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("post visits: %w", err)
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("post visits: status %d: %s", resp.StatusCode, truncate(body, 300))
		}
		var out struct{ Accepted int }
		if err := json.Unmarshal(body, &out); err != nil || out.Accepted != perBatch[i] {
			return fmt.Errorf("post visits: answer %s, want %d accepted", truncate(body, 200), perBatch[i])
		}
		n := accepted.Add(int64(out.Accepted))
		if progress != nil {
			progress(int(n))
		}
		return nil
	})
	return IngestResult{Accepted: accepted.Load(), Elapsed: time.Since(start)}, err
}

// NodeConfig prepares everything node.Open needs for the data directory dir
// (key, vault, regions, national ruleset, store), so that node.Open alone can
// be timed. The caller closes cfg.Store.
func NodeConfig(ctx context.Context, dir string, log *slog.Logger) (node.Config, error) {
	key, err := identity.LoadOrCreateKey(dir, "")
	if err != nil {
		return node.Config{}, err
	}
	vault, err := identity.NewVault(key)
	if err != nil {
		return node.Config{}, err
	}
	regions, err := region.Default()
	if err != nil {
		return node.Config{}, err
	}
	rules, err := health.NationalRuleset()
	if err != nil {
		return node.Config{}, err
	}
	keys, err := node.OpenKeys(dir, key, "440000", time.Now())
	if err != nil {
		return node.Config{}, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "healthcode.db"))
	if err != nil {
		return node.Config{}, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Every signed lookup signs (no screen-token reuse, D50): the figure is
	// the cost of signing, not of a cache.
	return node.Config{Store: store, Vault: vault, Regions: regions, Ruleset: rules, Logger: log, Keys: keys, ScreenReuse: -1}, nil
}
