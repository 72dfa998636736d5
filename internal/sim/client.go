package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"healthcode/internal/health"
)

// Batch sizes of [Client.Load].
const (
	PersonBatch = 1000 // persons per POST /api/v1/persons
	VisitBatch  = 5000 // visits per POST /api/v1/visits
	ResultBatch = 2000 // results per POST /api/v1/labs/{lab}/results
)

// DefaultConcurrency is the number of concurrent requests when
// Client.Concurrency is 0.
const DefaultConcurrency = 4

// Client loads a [City] into a node through its HTTP API. Its methods may
// be called concurrently; its fields must not change once one was called.
type Client struct {
	Base  string // the node's base URL, e.g. "http://127.0.0.1:8080"
	Token string // a staff bearer token (session or API key) of an account with the roles the load needs
	// LabTokens are the bearer tokens of the lab accounts by lab id (a
	// lab's results go with its own account; the lab id is the account's
	// username). A lab without one uses Token.
	LabTokens   map[string]string
	HTTP        *http.Client // nil: a client whose transport keeps Concurrency idle connections per host
	Concurrency int          // concurrent requests; default 4
	// Rate caps the requests per second, over all of the client's
	// requests; 0: no cap.
	Rate float64
	// SkipExisting makes Load reuse what the node has already, where the API
	// does not do it itself: a place with the same name, kind and region
	// (GET /api/v1/places) is not registered again, and a risk area of the
	// same region and level in force (GET /api/v1/risk-areas) is not
	// declared again. (Enrolment and results are idempotent in the API;
	// visits are not, and are always sent.)
	SkipExisting bool

	once sync.Once
	hc   *http.Client
	lim  *limiter
}

// setup fills the client's defaults once.
func (c *Client) setup() {
	c.once.Do(func() {
		conc := c.conc()
		c.hc = c.HTTP
		if c.hc == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = conc
			t.MaxIdleConns = max(t.MaxIdleConns, conc)
			c.hc = &http.Client{Transport: t}
		}
		if c.Rate > 0 {
			c.lim = &limiter{every: time.Duration(float64(time.Second) / c.Rate)}
		}
	})
}

func (c *Client) conc() int {
	if c.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return c.Concurrency
}

// limiter spaces requests every so often (a rate cap without bursts).
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

// wait blocks until the caller may send a request, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Progress reports the progress of a phase: done of total items. It is
// called often and from any goroutine, so it must be safe for concurrent
// use. Phases are "persons", "places", "visits", "trips", "results" and
// "risk-areas".
type Progress func(phase string, done, total int)

// Loaded is what [Client.Load] did. PersonIDs and Tokens are indexed like
// City.Persons, PlaceIDs and PlaceCodes like City.Places.
type Loaded struct {
	PersonIDs  []string
	Tokens     []string
	PlaceIDs   []string
	PlaceCodes []string
	Phases     []PhaseTiming
	// Counts sums the server's answers: persons_enrolled, persons_existing,
	// places, places_existing (SkipExisting), visits_accepted,
	// trips_recorded (passenger lists), passengers_recorded,
	// results_accepted, results_duplicates, results_corrections,
	// risk_areas_declared, risk_areas_affected, risk_areas_skipped (areas
	// already over, or not postable, at the server's time) and
	// risk_areas_existing (SkipExisting).
	Counts map[string]int
}

// PhaseTiming is the duration of one phase of a load.
type PhaseTiming struct {
	Phase string
	Items int
	Took  time.Duration
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Method, Path string
	Status       int
	Body         string // the response body, normally {"error":{"code","message","field"}}
	Code         string // error.code of the body, if it parsed
	Message      string // error.message
	Field        string // error.field
}

// Error returns "sim: POST /api/v1/visits: 400 Bad Request: {"error":...}".
func (e *APIError) Error() string {
	return fmt.Sprintf("sim: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

// Load enrols the city's persons, registers its places, records its visits
// and its trips' passenger lists (POST /api/v1/trips/manifest, one a trip),
// uploads its test results and declares its risk areas, in this order, each
// phase with Concurrency concurrent requests. progress may be nil.
//
// Visits, trips and samples must not be in the server's future, so the
// city's End should not be after the server's clock. Passenger lists, like
// visits, are recorded again when loaded again. Risk areas are declared
// last, and only those still in force at the server's time (GET /healthz),
// with From moved into the last 14 days the server accepts.
//
// On error (the first non-2xx answer, as an *[APIError], or a transport or
// context error) Load stops and returns what it loaded so far with the error.
func (c *Client) Load(ctx context.Context, city *City, progress Progress) (*Loaded, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	l := c.loader(city, progress)
	phases := []struct {
		name  string
		items int
		run   func(context.Context) error
	}{
		{"persons", len(city.Persons), l.persons},
		{"places", len(city.Places), l.places},
		{"visits", len(city.Visits), l.visits},
		{"trips", len(city.Trips), l.trips},
		{"results", len(city.Results), l.results},
		{"risk-areas", len(city.RiskAreas), l.riskAreas},
	}
	for _, ph := range phases {
		t0 := time.Now()
		progress(ph.name, 0, ph.items)
		err := ph.run(ctx)
		l.out.Phases = append(l.out.Phases, PhaseTiming{Phase: ph.name, Items: ph.items, Took: time.Since(t0)})
		if err != nil {
			return l.out, fmt.Errorf("sim: load %s: %w", ph.name, err)
		}
	}
	return l.out, nil
}

func (c *Client) loader(city *City, progress Progress) *loader {
	c.setup()
	return &loader{c: c, hc: c.hc, conc: c.conc(), base: strings.TrimRight(c.Base, "/"), progress: progress,
		out: &Loaded{Counts: map[string]int{}}, city: city}
}

type loader struct {
	c        *Client
	hc       *http.Client
	conc     int
	base     string
	progress Progress
	city     *City

	mu  sync.Mutex // guards out.Counts
	out *Loaded
}

func (l *loader) count(kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i+1 < len(kv); i += 2 {
		l.out.Counts[kv[i].(string)] += kv[i+1].(int)
	}
}

// parallel runs fn(ctx, i) for i in [0, n) on up to workers goroutines. It
// stops at the first error, cancelling the others, and returns it.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// do sends a request with a JSON body (nil: none) and decodes a 2xx JSON
// answer into out (nil: discard). Any other status is an *APIError.
func (l *loader) do(ctx context.Context, method, path string, body []byte, out any) error {
	return l.stream(ctx, method, path, body, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("sim: %s %s: reading the answer: %w", method, path, err)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("sim: %s %s: the answer: %w", method, path, err)
			}
		}
		return nil
	})
}

// stream sends a request as do does and hands the body of a 2xx answer to
// read; any other status is an *APIError.
func (l *loader) stream(ctx context.Context, method, path string, body []byte, read func(io.Reader) error) error {
	if err := l.c.lim.wait(ctx); err != nil {
		return fmt.Errorf("sim: %s %s: %w", method, path, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, rd)
	if err != nil {
		return fmt.Errorf("sim: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	tok := l.c.Token
	if rest, ok := strings.CutPrefix(path, "/api/v1/labs/"); ok {
		if lab, _, ok := strings.Cut(rest, "/"); ok && l.c.LabTokens[lab] != "" {
			tok = l.c.LabTokens[lab]
		}
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("sim: %s %s: reading the answer: %w", method, path, err)
		}
		e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
		var eb struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		if json.Unmarshal(b, &eb) == nil {
			e.Code, e.Message, e.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
		}
		return e
	}
	if err := read(resp.Body); err != nil {
		return err
	}
	// Drain what read left, so that the connection can be reused.
	io.Copy(io.Discard, resp.Body)
	return nil
}

func batches(n, size int) int { return (n + size - 1) / size }

type personJSON struct {
	IDNumber   string `json:"id_number"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	HomeRegion string `json:"home_region"`
}

func (l *loader) persons(ctx context.Context) error {
	ps := l.city.Persons
	l.out.PersonIDs = make([]string, len(ps))
	l.out.Tokens = make([]string, len(ps))
	var done atomic.Int64
	return parallel(ctx, batches(len(ps), PersonBatch), l.conc, func(ctx context.Context, b int) error {
		lo, hi := b*PersonBatch, min(len(ps), (b+1)*PersonBatch)
		in := struct {
			Persons []personJSON `json:"persons"`
		}{make([]personJSON, 0, hi-lo)}
		for _, p := range ps[lo:hi] {
			in.Persons = append(in.Persons, personJSON{p.IDNumber, p.Name, p.Phone, p.HomeRegion})
		}
		body, err := json.Marshal(in)
		if err != nil {
			return err
		}
		var out struct {
			Persons []struct {
				PersonID string `json:"person_id"`
				Token    string `json:"token"`
				Existing bool   `json:"existing"`
			} `json:"persons"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/persons", body, &out); err != nil {
			return err
		}
		if len(out.Persons) != hi-lo {
			return fmt.Errorf("sim: POST /api/v1/persons: sent %d persons, got %d answers", hi-lo, len(out.Persons))
		}
		existing := 0
		for i, e := range out.Persons {
			l.out.PersonIDs[lo+i], l.out.Tokens[lo+i] = e.PersonID, e.Token
			if e.Existing {
				existing++
			}
		}
		l.count("persons_enrolled", hi-lo-existing, "persons_existing", existing)
		l.progress("persons", int(done.Add(int64(hi-lo))), len(ps))
		return nil
	})
}

type placeJSON struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Kind    string   `json:"kind"`
	Region  string   `json:"region"`
	Lat     float64  `json:"lat"`
	Lng     float64  `json:"lng"`
}

// placeKey identifies a place for Client.SkipExisting.
type placeKey struct{ name, kind, region string }

// existingPlaces lists the node's places (GET /api/v1/places, by pages).
func (l *loader) existingPlaces(ctx context.Context) (map[placeKey][2]string, error) {
	out := map[placeKey][2]string{}
	after := ""
	for {
		path := "/api/v1/places?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		var page struct {
			Places []struct {
				PlaceID   string `json:"place_id"`
				PlaceCode string `json:"place_code"`
				Name      string `json:"name"`
				Kind      string `json:"kind"`
				Region    string `json:"region"`
			} `json:"places"`
		}
		if err := l.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Places {
			k := placeKey{p.Name, p.Kind, p.Region}
			if _, dup := out[k]; !dup {
				out[k] = [2]string{p.PlaceID, p.PlaceCode}
			}
		}
		if len(page.Places) < 1000 {
			return out, nil
		}
		after = page.Places[len(page.Places)-1].PlaceID
	}
}

func (l *loader) places(ctx context.Context) error {
	ps := l.city.Places
	l.out.PlaceIDs = make([]string, len(ps))
	l.out.PlaceCodes = make([]string, len(ps))
	var have map[placeKey][2]string
	if l.c.SkipExisting {
		var err error
		if have, err = l.existingPlaces(ctx); err != nil {
			return err
		}
	}
	var done atomic.Int64
	return parallel(ctx, len(ps), l.conc, func(ctx context.Context, i int) error {
		p := ps[i]
		if h, ok := have[placeKey{p.Name, p.Kind, p.Region}]; ok {
			l.out.PlaceIDs[i], l.out.PlaceCodes[i] = h[0], h[1]
			l.count("places_existing", 1)
			l.progress("places", int(done.Add(1)), len(ps))
			return nil
		}
		body, err := json.Marshal(placeJSON{p.Name, p.Aliases, p.Kind, p.Region, p.Lat, p.Lng})
		if err != nil {
			return err
		}
		var out struct {
			PlaceID   string `json:"place_id"`
			PlaceCode string `json:"place_code"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/places", body, &out); err != nil {
			return err
		}
		if out.PlaceID == "" || out.PlaceCode == "" {
			return fmt.Errorf("sim: POST /api/v1/places: no place_id or place_code in the answer for place %d", i)
		}
		l.out.PlaceIDs[i], l.out.PlaceCodes[i] = out.PlaceID, out.PlaceCode
		l.count("places", 1)
		l.progress("places", int(done.Add(1)), len(ps))
		return nil
	})
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, time.RFC3339)
	return append(buf, '"')
}

func (l *loader) personID(i int) (string, error) {
	if i < 0 || i >= len(l.out.PersonIDs) {
		return "", fmt.Errorf("sim: person %d is not in the city", i)
	}
	return l.out.PersonIDs[i], nil
}

func (l *loader) visits(ctx context.Context) error {
	vs := l.city.Visits
	var done atomic.Int64
	return parallel(ctx, batches(len(vs), VisitBatch), l.conc, func(ctx context.Context, b int) error {
		lo, hi := b*VisitBatch, min(len(vs), (b+1)*VisitBatch)
		buf := make([]byte, 0, (hi-lo)*112+16)
		buf = append(buf, `{"visits":[`...)
		for i, v := range vs[lo:hi] {
			pid, err := l.personID(v.Person)
			if err != nil {
				return err
			}
			if v.Place < 0 || v.Place >= len(l.out.PlaceCodes) {
				return fmt.Errorf("sim: visit %d: place %d is not in the city", lo+i, v.Place)
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"person_id":`...)
			buf = appendJSONString(buf, pid)
			buf = append(buf, `,"place_code":`...)
			buf = appendJSONString(buf, l.out.PlaceCodes[v.Place])
			buf = append(buf, `,"at":`...)
			buf = appendTime(buf, v.At)
			buf = append(buf, `,"until":`...)
			buf = appendTime(buf, v.Until)
			buf = append(buf, '}')
		}
		buf = append(buf, "]}"...)
		var out struct {
			Accepted int `json:"accepted"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/visits", buf, &out); err != nil {
			return err
		}
		l.count("visits_accepted", out.Accepted)
		l.progress("visits", int(done.Add(int64(hi-lo))), len(vs))
		return nil
	})
}

// manifestJSON is the body of POST /api/v1/trips/manifest.
type manifestJSON struct {
	Trip       string          `json:"trip"`
	Mode       string          `json:"mode,omitempty"`
	From       string          `json:"from"`
	To         string          `json:"to"`
	Passengers []passengerJSON `json:"passengers"`
}

type passengerJSON struct {
	PersonID string `json:"person_id"`
	Carriage string `json:"carriage,omitempty"`
	Row      int    `json:"row,omitempty"`
	Seat     string `json:"seat,omitempty"`
}

// manifestBody is the passenger list of trip t, with the node's person ids.
func (l *loader) manifestBody(t *Trip) (manifestJSON, error) {
	b := manifestJSON{Trip: t.Trip, Mode: t.Mode, From: health.FormatTime(t.From), To: health.FormatTime(t.To),
		Passengers: make([]passengerJSON, len(t.Passengers))}
	for i, p := range t.Passengers {
		pid, err := l.personID(p.Person)
		if err != nil {
			return b, fmt.Errorf("sim: trip %s: %w", t.Trip, err)
		}
		b.Passengers[i] = passengerJSON{PersonID: pid, Row: p.Row, Seat: p.Seat}
		if p.Carriage > 0 {
			b.Passengers[i].Carriage = fmt.Sprintf("%02d", p.Carriage)
		}
	}
	return b, nil
}

// trips records the passenger list of each trip (staff), one request a trip.
func (l *loader) trips(ctx context.Context) error {
	ts := l.city.Trips
	var done atomic.Int64
	return parallel(ctx, len(ts), l.conc, func(ctx context.Context, i int) error {
		b, err := l.manifestBody(&ts[i])
		if err != nil {
			return err
		}
		body, err := json.Marshal(b)
		if err != nil {
			return err
		}
		var out struct {
			Recorded int `json:"recorded"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/trips/manifest", body, &out); err != nil {
			return err
		}
		l.count("trips_recorded", 1, "passengers_recorded", out.Recorded)
		l.progress("trips", int(done.Add(1)), len(ts))
		return nil
	})
}

func (l *loader) results(ctx context.Context) error {
	rs := l.city.Results
	byLab := map[string][]int{}
	for i, r := range rs {
		byLab[r.Lab] = append(byLab[r.Lab], i)
	}
	labs := make([]string, 0, len(byLab))
	for lab := range byLab {
		labs = append(labs, lab)
	}
	slices.Sort(labs)
	type batch struct {
		lab   string
		items []int
	}
	var bs []batch
	for _, lab := range labs {
		items := byLab[lab]
		for lo := 0; lo < len(items); lo += ResultBatch {
			bs = append(bs, batch{lab, items[lo:min(len(items), lo+ResultBatch)]})
		}
	}
	var done atomic.Int64
	return parallel(ctx, len(bs), l.conc, func(ctx context.Context, b int) error {
		bt := bs[b]
		buf := make([]byte, 0, len(bt.items)*110+16)
		buf = append(buf, `{"results":[`...)
		for i, ri := range bt.items {
			r := rs[ri]
			pid, err := l.personID(r.Person)
			if err != nil {
				return err
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"sample_id":`...)
			buf = appendJSONString(buf, r.SampleID)
			buf = append(buf, `,"person_id":`...)
			buf = appendJSONString(buf, pid)
			buf = append(buf, `,"sampled_at":`...)
			buf = appendTime(buf, r.SampledAt)
			buf = append(buf, `,"result":`...)
			buf = appendJSONString(buf, r.Result)
			buf = append(buf, '}')
		}
		buf = append(buf, "]}"...)
		var out struct {
			Accepted    int `json:"accepted"`
			Duplicates  int `json:"duplicates"`
			Corrections int `json:"corrections"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/labs/"+url.PathEscape(bt.lab)+"/results", buf, &out); err != nil {
			return err
		}
		l.count("results_accepted", out.Accepted, "results_duplicates", out.Duplicates, "results_corrections", out.Corrections)
		l.progress("results", int(done.Add(int64(len(bt.items)))), len(rs))
		return nil
	})
}

// serverNow asks the server for its time (GET /healthz), falling back to the
// Date header of the answer, then to the local clock.
func (l *loader) serverNow(ctx context.Context) time.Time {
	if l.c.lim.wait(ctx) != nil {
		return time.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/healthz", nil)
	if err != nil {
		return time.Now()
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return time.Now()
	}
	defer resp.Body.Close()
	var h struct {
		Time string `json:"time"`
	}
	if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil {
		if t, err := time.Parse(time.RFC3339Nano, h.Time); err == nil {
			return t
		}
	}
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// The server's limits on declaring an area (see node.DeclareRiskArea).
const (
	maxBackdate = 14 * 24 * time.Hour
	maxAhead    = 30 * 24 * time.Hour
)

type areaJSON struct {
	Region string `json:"region"`
	Level  string `json:"level"`
	From   string `json:"from,omitempty"`
	Until  string `json:"until"`
}

// areaBody returns the declaration of a at the server's time now, or false
// if the area is over by then.
func areaBody(a RiskArea, now time.Time) (areaJSON, bool) {
	if !a.Until.After(now.Add(time.Minute)) {
		return areaJSON{}, false
	}
	until := a.Until
	if until.Sub(now) > maxAhead {
		until = now.Add(maxAhead - time.Hour)
	}
	b := areaJSON{Region: a.Region, Level: a.Level, Until: health.FormatTime(until)}
	from := a.From
	if earliest := now.Add(-maxBackdate + time.Hour); from.Before(earliest) {
		from = earliest
	}
	if !from.After(now) {
		b.From = health.FormatTime(from) // else omitted: from the server's now
	}
	return b, true
}

func (l *loader) riskAreas(ctx context.Context) error {
	as := l.city.RiskAreas
	if len(as) == 0 {
		return nil
	}
	now := l.serverNow(ctx)
	inForce := map[[2]string]bool{}
	if l.c.SkipExisting {
		var list struct {
			Areas []struct{ Region, Level string } `json:"risk_areas"`
		}
		if err := l.do(ctx, http.MethodGet, "/api/v1/risk-areas", nil, &list); err != nil {
			return err
		}
		for _, a := range list.Areas {
			inForce[[2]string{a.Region, a.Level}] = true
		}
	}
	var done atomic.Int64
	// One at a time, in declaration order: there are few, and the event log
	// then follows the city's order.
	return parallel(ctx, len(as), 1, func(ctx context.Context, i int) error {
		defer func() { l.progress("risk-areas", int(done.Add(1)), len(as)) }()
		b, ok := areaBody(as[i], now)
		if !ok {
			l.count("risk_areas_skipped", 1)
			return nil
		}
		if inForce[[2]string{b.Region, b.Level}] {
			l.count("risk_areas_existing", 1)
			return nil
		}
		body, err := json.Marshal(b)
		if err != nil {
			return err
		}
		var out struct {
			Affected int `json:"affected"`
		}
		if err := l.do(ctx, http.MethodPost, "/api/v1/risk-areas", body, &out); err != nil {
			return err
		}
		l.count("risk_areas_declared", 1, "risk_areas_affected", out.Affected)
		return nil
	})
}

// Do sends one request to the node as the client's requests go (staff
// token, rate cap): body is marshalled as JSON (nil: none) and a 2xx JSON
// answer is decoded into out (nil: discarded). Any other status is an
// *[APIError]; transport and context errors are returned wrapped.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return fmt.Errorf("sim: %s %s: %w", method, path, err)
		}
	}
	return c.loader(nil, nil).do(ctx, method, path, b, out)
}

// Stream sends one request as Do does, and hands the body of a 2xx answer
// to read (for answers too large to hold at once). It returns read's error,
// an *[APIError] for any other status, or a transport or context error.
func (c *Client) Stream(ctx context.Context, method, path string, body any, read func(io.Reader) error) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return fmt.Errorf("sim: %s %s: %w", method, path, err)
		}
	}
	return c.loader(nil, nil).stream(ctx, method, path, b, read)
}

// ServerTime returns the node's time (GET /healthz), or the local time if
// the node does not tell it.
func (c *Client) ServerTime(ctx context.Context) time.Time {
	return c.loader(nil, nil).serverNow(ctx)
}

// Username returns the username of the staff account of token (GET
// /api/v1/sessions/current): a lab account's username is its lab id.
func (c *Client) Username(ctx context.Context, token string) (string, error) {
	cc := &Client{Base: c.Base, Token: token, HTTP: c.HTTP}
	var out struct {
		Username string `json:"username"`
	}
	if err := cc.loader(nil, nil).do(ctx, http.MethodGet, "/api/v1/sessions/current", nil, &out); err != nil {
		return "", err
	}
	return out.Username, nil
}

// Enrol enrols persons as Load does (batches of PersonBatch) and returns
// their person ids, indexed like persons, and how many were enrolled
// already. Enrolling an enrolled ID number writes nothing, so it also finds
// the ids of persons loaded before. progress (may be nil) is called with
// phase "persons". It returns the first error, as Load does.
func (c *Client) Enrol(ctx context.Context, persons []Person, progress Progress) (ids []string, existing int, err error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	l := c.loader(&City{Persons: persons}, progress)
	progress("persons", 0, len(persons))
	if err := l.persons(ctx); err != nil {
		return nil, 0, fmt.Errorf("sim: enrol: %w", err)
	}
	return l.out.PersonIDs, l.out.Counts["persons_existing"], nil
}

// IsAPIError reports whether err is or wraps an *APIError with the status
// (0: any status).
func IsAPIError(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && (status == 0 || e.Status == status)
}
