package web

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

// casesPerPage is the length of a page of the case list.
const casesPerPage = 50

// caseRow is a case as the console shows it: no person index, name, ID
// number or phone, only the case's own fields.
type caseRow struct {
	ID, Classification, Region string
	StartKey                   string // "onset" or "first_positive": which date Start is
	Start                      time.Time
	Site                       string
	IsolatedAt                 time.Time
	Version, Stops             int    // the current trajectory; 0 when there is none yet
	Status                     string // "", "pending", "approved" or "returned"
	Assignment                 *node.Assignment
}

func newCaseRow(c node.Case) caseRow {
	row := caseRow{ID: c.ID, Classification: c.Classification, Region: c.Region, StartKey: "onset", Start: c.Onset,
		Site: c.Site, IsolatedAt: c.IsolatedAt}
	if c.Classification == node.Asymptomatic {
		row.StartKey, row.Start = "first_positive", c.FirstPositive
	}
	if len(c.Versions) > 0 {
		tr := c.Versions[len(c.Versions)-1]
		row.Version, row.Stops, row.Status = tr.Version, len(tr.Stops), reviewStatus(tr.Review)
	}
	if len(c.Assignments) > 0 {
		a := c.Assignments[len(c.Assignments)-1]
		row.Assignment = &a
	}
	return row
}

// reviewStatus is the message key of a version's review state.
func reviewStatus(r *node.Review) string {
	if r == nil {
		return "pending"
	}
	return r.Decision
}

// cases lists the cases, newest first, casesPerPage at a time after the
// case named by ?after.
func (h *Handler) cases(w http.ResponseWriter, r *http.Request, p staff.Principal) {
	all := slices.DeleteFunc(h.cfg.Node.Cases(), func(c node.Case) bool { return !c.VisibleTo(p.Region) })
	if after := r.URL.Query().Get("after"); after != "" {
		if i := slices.IndexFunc(all, func(c node.Case) bool { return c.ID == after }); i >= 0 {
			all = all[i+1:]
		}
	}
	next := ""
	if len(all) > casesPerPage {
		all = all[:casesPerPage]
		next = all[len(all)-1].ID
	}
	rows := make([]caseRow, len(all))
	for i, c := range all {
		rows[i] = newCaseRow(c)
	}
	h.render(w, r, "cases.html", "cases", map[string]any{"Cases": rows, "Next": next})
}

// stopRow is a stop of a trajectory. A home stop's place is not shown:
// it is the person's address.
type stopRow struct {
	N                int // 1-based, as the findings cite it
	From, To         time.Time
	Place, PlaceCode string // empty for a home stop
	Transport        *node.Transport
	Actor            string
	SelfReported     bool
	Home             bool
}

type findingRow struct {
	Code, Message string
	Stops         []int // 1-based stop numbers
}

type versionRow struct {
	Version, Stops int
	Actor          string
	Recorded       time.Time
	Status         string
	Reviewer       string
	ReviewedAt     time.Time
}

type memberRow struct {
	Case, Region     string
	Start, Infection time.Time
	Basis            string
	Shared           int
	Focus            bool
}

// caseDetail shows a case: its fields, current trajectory with the
// automatic review's findings, version history and chain of transmission.
func (h *Handler) caseDetail(w http.ResponseWriter, r *http.Request, p staff.Principal) {
	n, lang := h.cfg.Node, pageLang(r)
	id := r.PathValue("id")
	c, err := n.Case(id)
	if err == nil && !c.VisibleTo(p.Region) {
		h.renderStatus(w, r, http.StatusForbidden, "login.html", "login", map[string]any{"Next": r.URL.RequestURI(), "Forbidden": true})
		return
	}
	if health.KindOf(err) == health.NotFound {
		h.renderStatus(w, r, http.StatusNotFound, "notfound.html", "not_found", map[string]any{"Case": id})
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data := map[string]any{"Case": newCaseRow(c), "Opened": c.Opened, "Actor": c.Actor, "Assignments": c.Assignments}

	var stops []node.Stop
	homeNames := map[string]bool{} // the places of home stops, masked in the findings too
	if len(c.Versions) > 0 {
		stops = c.Versions[len(c.Versions)-1].Stops
	}
	rows := make([]stopRow, len(stops))
	for i, s := range stops {
		row := stopRow{N: i + 1, From: s.From, To: s.To, Transport: s.Transport, Actor: s.Actor, SelfReported: s.SelfReported, Home: s.Home}
		pl, err := n.Place(s.Place)
		switch {
		case s.Home && err == nil:
			homeNames[pl.Name] = true
		case err == nil:
			row.Place, row.PlaceCode = pl.Name, health.PlaceCode(s.Place)
		}
		rows[i] = row
	}
	data["Stops"] = rows

	reviewed, fs, err := n.AutoReview(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	home := messages[lang]["home_masked"]
	var findings []findingRow
	for _, f := range fs {
		msg := f.Message[lang]
		for name := range homeNames {
			if name != "" {
				msg = strings.ReplaceAll(msg, name, home)
			}
		}
		fr := findingRow{Code: f.Code, Message: msg}
		for _, i := range f.Stops {
			fr.Stops = append(fr.Stops, i+1)
		}
		findings = append(findings, fr)
	}
	data["Reviewed"], data["Findings"] = reviewed, findings

	var versions []versionRow
	for _, v := range slices.Backward(c.Versions) {
		vr := versionRow{Version: v.Version, Stops: len(v.Stops), Actor: v.Actor, Recorded: v.Recorded, Status: reviewStatus(v.Review)}
		if v.Review != nil {
			vr.Reviewer, vr.ReviewedAt = v.Review.Actor, v.Review.At
		}
		versions = append(versions, vr)
	}
	data["Versions"] = versions

	svg, err := n.ChainSVG(id, lang)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Safe: node.ChainSVG (internal/chainviz) escapes every text it draws.
	data["ChainSVG"] = template.HTML(svg)
	ch, err := n.Chain(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	members := make([]memberRow, len(ch.Members))
	for i, m := range ch.Members {
		members[i] = memberRow{Case: m.Case, Region: m.Region, Start: m.Start, Infection: m.Infection, Basis: m.Basis,
			Shared: len(m.Shared), Focus: m.Case == id}
	}
	data["Members"] = members
	h.render(w, r, "case.html", "case", data)
}
