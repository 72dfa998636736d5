package node

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"healthcode/internal/gazetteer"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/publish"
	"healthcode/internal/region"
	"healthcode/internal/review"
)

// pubCache holds the published (de-identified, approved) case data; it is
// rebuilt on read when version has moved on since built.
type pubCache struct {
	version uint64 // bumped by every review (under n.mu, by the writer)

	mu      sync.Mutex
	built   uint64 // the version cases and matcher were built at (+1; 0 = never)
	cases   []publish.Case
	matcher *publish.Matcher
	demo    map[uint32]ageSex // by person, from the identity (never changes)
}

type ageSex struct {
	birth time.Time // zero if unknown
	sex   string
}

// PublicCases returns the de-identified public data (DESIGN.md §7): the
// cases' approved trajectories by county and by chain, with no names or
// ids, ages in bands, times to the hour, home stops removed and any group
// smaller than k suppressed (k ≤ 0: publish.DefaultK).
func (n *Node) PublicCases(ctx context.Context, reg string, k int) (publish.Report, error) {
	cases, _, err := n.published(ctx)
	if err != nil {
		return publish.Report{}, err
	}
	return publish.Deidentify(cases, publish.Options{K: k, Region: region.Prefix(reg)}), nil
}

// SelfCheck matches a citizen's own stops against the published stops:
// the places and hours a case was, with the case's county, no identities.
func (n *Node) SelfCheck(ctx context.Context, qs []publish.Query) ([]publish.Hit, error) {
	if len(qs) == 0 || len(qs) > 200 {
		return nil, health.Errorf(health.Invalid, "invalid_stops", "stops", "give 1 to 200 stops")
	}
	for i, q := range qs {
		if q.From.IsZero() || !q.To.After(q.From) || q.To.Sub(q.From) > 72*time.Hour {
			return nil, health.Errorf(health.Invalid, "invalid_interval", "stops["+strconv.Itoa(i)+"].to", "a stop needs from < to, at most 72h apart")
		}
	}
	_, m, err := n.published(ctx)
	if err != nil {
		return nil, err
	}
	return m.Match(qs), nil
}

// published returns the publishable cases and the self-check matcher,
// rebuilding them if a review happened since.
func (n *Node) published(ctx context.Context) ([]publish.Case, *publish.Matcher, error) {
	n.mu.RLock()
	version := n.pub.version
	n.mu.RUnlock()
	pc := &n.pub
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.built == version+1 {
		return pc.cases, pc.matcher, nil
	}
	if pc.demo == nil {
		pc.demo = map[uint32]ageSex{}
	}
	// Snapshot the approved trajectories under the read lock; identities
	// are opened outside it.
	type item struct {
		c     Case
		stops []Stop
	}
	var items []item
	places := map[uint32]health.Place{}
	homes := map[uint32]string{}
	n.mu.RLock()
	for _, c := range n.cases {
		for v := len(c.Versions) - 1; v >= 0; v-- {
			if r := c.Versions[v].Review; r != nil && r.Decision == Approved {
				items = append(items, item{*c, c.Versions[v].Stops})
				for _, s := range c.Versions[v].Stops {
					places[s.Place] = n.places[s.Place]
				}
				homes[c.Person] = n.home(c.Person)
				break
			}
		}
	}
	chains := n.chainIDs()
	n.mu.RUnlock()

	cases := make([]publish.Case, 0, len(items))
	for _, it := range items {
		d, ok := pc.demo[it.c.Person]
		if !ok {
			id, err := n.Identity(ctx, it.c.Person)
			if err != nil {
				return nil, nil, err
			}
			d = demographics(id)
			pc.demo[it.c.Person] = d
		}
		reported := it.c.Opened
		age := -1
		if !d.birth.IsZero() {
			age = ageAt(d.birth, reported)
		}
		pcase := publish.Case{ID: it.c.ID, Region: it.c.Region, Chain: chains[it.c.ID], Age: age, Sex: d.sex,
			Classification: it.c.Classification, Reported: reported}
		for _, s := range it.stops {
			pl := places[s.Place]
			home := s.Home || pl.Kind == "residence" && homes[it.c.Person] != "" && strings.HasPrefix(homes[it.c.Person], pl.Region)
			pcase.Stops = append(pcase.Stops, publish.Stop{Place: s.Place, PlaceName: pl.Name, PlaceRegion: countyOf(pl.Region),
				Home: home, From: s.From, To: s.To})
		}
		cases = append(cases, pcase)
	}
	slices.SortFunc(cases, func(a, b publish.Case) int { return strings.Compare(a.ID, b.ID) })
	pc.cases = cases
	pc.matcher = publish.NewMatcher(publish.PublishedStops(publish.Deidentify(cases, publish.Options{})))
	pc.built = version + 1
	return pc.cases, pc.matcher, nil
}

// chainIDs labels the cases that share overlapping stops (current
// trajectories), transitively, with the smallest case id of their chain;
// cases that share none have no chain. Called under n.mu.
func (n *Node) chainIDs() map[string]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(a string) string {
		for parent[a] != "" && parent[a] != a {
			a = parent[a]
		}
		return a
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		if rb < ra {
			ra, rb = rb, ra
		}
		parent[ra], parent[rb] = ra, ra
	}
	type ref struct {
		id string
		s  Stop
	}
	byPlace := map[uint32][]ref{}
	for id, c := range n.cases {
		if len(c.Versions) == 0 {
			continue
		}
		for _, s := range c.Versions[len(c.Versions)-1].Stops {
			for _, o := range byPlace[s.Place] {
				if o.id != id && s.From.Before(o.s.To) && o.s.From.Before(s.To) {
					union(id, o.id)
				}
			}
			byPlace[s.Place] = append(byPlace[s.Place], ref{id, s})
		}
	}
	out := map[string]string{}
	for id := range parent {
		out[id] = find(id)
	}
	return out
}

// demographics reads birth date and sex from a resident ID number
// (GB 11643: digits 7–14 the birth date, digit 17 odd for men).
func demographics(id identity.Identity) ageSex {
	var d ageSex
	s := id.IDNumber
	if len(s) != 18 {
		return d
	}
	if b, err := time.ParseInLocation("20060102", s[6:14], health.CST); err == nil {
		d.birth = b
	}
	if s[16]%2 == 1 {
		d.sex = "M"
	} else {
		d.sex = "F"
	}
	return d
}

func ageAt(birth, at time.Time) int {
	age := at.Year() - birth.Year()
	if at.YearDay() < birth.YearDay() {
		age--
	}
	return max(age, 0)
}

// SearchPlaces finds the places a description may mean (place matching
// for investigators and for citizens entering their own stops).
func (n *Node) SearchPlaces(q gazetteer.Query) []gazetteer.Candidate {
	return n.gaz.Search(q)
}

// gazetteerPlace is the gazetteer's entry for a place.
func gazetteerPlace(pl *health.Place) gazetteer.Place {
	return gazetteer.Place{ID: pl.Index, Name: pl.Name, Aliases: pl.Aliases, Region: countyOf(pl.Region), Lat: pl.Lat, Lng: pl.Lng, Kind: pl.Kind}
}

// AutoReview runs the automatic review of a case's current trajectory:
// overlapping stops, gaps, impossible speeds, unknown places, stops
// outside the infectious period. It returns the version reviewed (0 if
// none yet) and the findings.
func (n *Node) AutoReview(caseID string) (int, []review.Finding, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.cases[caseID]
	if !ok {
		return 0, nil, health.Errorf(health.NotFound, "unknown_case", "id", "no case %s", caseID)
	}
	if len(c.Versions) == 0 {
		return 0, nil, nil
	}
	tr := c.Versions[len(c.Versions)-1]
	stops := make([]review.Stop, len(tr.Stops))
	for i, s := range tr.Stops {
		pl := n.places[s.Place]
		stops[i] = review.Stop{Place: s.Place, PlaceName: pl.Name, Lat: pl.Lat, Lng: pl.Lng, HasCoords: pl.Lat != 0 || pl.Lng != 0,
			From: s.From, To: s.To}
		if s.Transport != nil {
			stops[i].Mode = s.Transport.Mode
		}
	}
	from, to := n.infectiousWindow(c)
	return tr.Version, review.Review(stops, review.Params{InfectiousFrom: from, InfectiousTo: to,
		MaxGap: n.paramDuration("review_max_gap", 4*time.Hour)}), nil
}

// MaskedContact returns a person's masked name ("张*三") and phone
// ("138****8000") for lists that community workers use.
func (n *Node) MaskedContact(ctx context.Context, p uint32) (name, phone string, err error) {
	id, err := n.Identity(ctx, p)
	if err != nil {
		return "", "", err
	}
	phone = id.Phone
	if len(phone) >= 7 {
		phone = phone[:3] + strings.Repeat("*", len(phone)-7) + phone[len(phone)-4:]
	}
	return identity.MaskName(id.Name), phone, nil
}
