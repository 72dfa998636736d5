package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/sim"
)

// investigation is what the demo's investigators did: a case for every
// person with a positive result, then a trace of all of them.
type investigation struct {
	Cases, Close, Secondary int
	Codes                   [3]int // close contacts' colours
	// true infections (the simulator's ground truth), and how many of them
	// tracing found as close or secondary contacts
	Infected, InfectedCases, InfectedClose, InfectedSecondary int
	Took                                                      time.Duration
}

// investigate opens the cases and traces them through the API (staff), the
// way an investigator's console would.
func investigate(ctx context.Context, hc *http.Client, base, token string, n *node.Node, city *sim.City, loaded *sim.Loaded) (investigation, error) {
	start := time.Now()
	var inv investigation
	post := func(path string, body, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode/100 != 2 {
			var e map[string]any
			json.NewDecoder(res.Body).Decode(&e)
			return fmt.Errorf("POST %s: %d %v", path, res.StatusCode, e)
		}
		return json.NewDecoder(res.Body).Decode(out)
	}
	// The first positive sample of each person, in time order.
	first := map[int]time.Time{}
	for _, r := range city.Results {
		if t, ok := first[r.Person]; r.Result == "positive" && (!ok || r.SampledAt.Before(t)) {
			first[r.Person] = r.SampledAt
		}
	}
	persons := make([]int, 0, len(first))
	for p := range first {
		persons = append(persons, p)
	}
	sort.Slice(persons, func(i, j int) bool {
		a, b := first[persons[i]], first[persons[j]]
		return a.Before(b) || a.Equal(b) && persons[i] < persons[j]
	})
	infection := map[int]sim.Infection{}
	for _, in := range city.Infections {
		infection[in.Person] = in
	}
	now := n.Now()
	var ids []string
	for _, p := range persons {
		pos := first[p]
		body := map[string]string{"person_id": loaded.PersonIDs[p], "site": "GZ01"}
		isolated := pos.Add(2 * time.Hour)
		if isolated.After(now) {
			isolated = now
		}
		body["isolated_at"] = health.FormatTime(isolated)
		if in, ok := infection[p]; ok && !in.Asymptomatic && !in.Onset.After(pos) {
			body["classification"], body["onset"] = "confirmed", health.FormatTime(in.Onset)
		} else {
			body["classification"], body["first_positive"] = "asymptomatic", health.FormatTime(pos)
		}
		var out struct {
			CaseID string `json:"case_id"`
		}
		if err := post("/api/v1/cases", body, &out); err != nil {
			return inv, err
		}
		ids = append(ids, out.CaseID)
	}
	inv.Cases = len(ids)
	if len(ids) > 0 {
		type contacts struct {
			Contacts []struct {
				PersonID string `json:"person_id"`
				Degree   int    `json:"degree"`
				Code     string `json:"code"`
			} `json:"contacts"`
		}
		// Close contacts are recorded: their codes turn red. Secondary
		// contacts are counted, not recorded: in a week replayed at once
		// nobody was quarantined along the way, so every close contact's
		// window is open until now and the secondary set is most of the
		// city (D38).
		var close1, both contacts
		if err := post("/api/v1/trace", map[string]any{"cases": ids, "depth": 1, "record": true}, &close1); err != nil {
			return inv, err
		}
		if err := post("/api/v1/trace", map[string]any{"cases": ids, "depth": 2, "record": false}, &both); err != nil {
			return inv, err
		}
		infected := map[string]bool{}
		for _, in := range city.Infections {
			infected[loaded.PersonIDs[in.Person]] = true
		}
		for _, c := range both.Contacts {
			if c.Degree == 1 {
				inv.Close++
				if infected[c.PersonID] {
					inv.InfectedClose++
				}
			} else {
				inv.Secondary++
				if infected[c.PersonID] {
					inv.InfectedSecondary++
				}
			}
		}
		for _, c := range close1.Contacts {
			if p, ok := health.ParsePersonID(c.PersonID); ok {
				if v, err := n.Code(p); err == nil {
					inv.Codes[v.Colour]++
				}
			}
		}
		inv.Infected = len(infected)
		for _, p := range persons {
			if infected[loaded.PersonIDs[p]] {
				inv.InfectedCases++
			}
		}
	}
	inv.Took = time.Since(start)
	return inv, nil
}
