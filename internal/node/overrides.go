package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"healthcode/internal/health"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
)

// Manual code changes (人工赋码, DESIGN.md invariant 2; D45). An official
// requests a colour for one or more persons on an epidemic ground with
// evidence and an expiry; abuse detection (abuse.go) looks at the request
// at once and may hold it for an auditor; a second official approves or
// refuses it. The rules see an override only once it is approved (and
// released, if held), and only until it expires or is revoked. Every step
// is an event, so the audit log and the start-up rebuild cover it.

// Official is the staff member acting on an override: the account's name
// and its region, a 6-digit GB/T 2260 code of a county or above, or
// "000000" for a national account (staff.NationalRegion). The caller
// authenticates the official and checks the role (official, auditor); the
// node checks region, level and the four-eyes rules.
type Official struct {
	Account string
	Region  string
}

// nationalRegion is the region of national accounts; it covers every region.
const nationalRegion = "000000"

// actor names the official in events, as staff.Principal.Actor does.
func (o Official) actor() string { return "staff:" + o.Account + "@" + o.Region }

// The authority levels of officials' regions, highest first.
const (
	levelNational = 1 + iota
	levelProvince
	levelCity
	levelCounty
)

var authorityNames = [...]string{"", "national", "province", "city", "county"}

func levelName(l int) string {
	if l > 0 && l < len(authorityNames) {
		return authorityNames[l]
	}
	return "unknown"
}

// officialLevel returns the level of an official's region, or a Permission
// error for a region that cannot hold officials.
func (n *Node) officialLevel(o Official) (int, error) {
	if o.Account == "" {
		return 0, health.Errorf(health.Permission, "invalid_official", "", "an override needs a named official")
	}
	if o.Region == nationalRegion {
		return levelNational, nil
	}
	r, ok := n.regions.Lookup(o.Region)
	if !ok || len(o.Region) != 6 {
		return 0, health.Errorf(health.Permission, "invalid_official", "", "official %s has region %q, not a county or above", o.Account, o.Region)
	}
	switch r.Level {
	case region.Province:
		return levelProvince, nil
	case region.City:
		return levelCity, nil
	case region.County:
		return levelCounty, nil
	}
	return 0, health.Errorf(health.Permission, "invalid_official", "", "official %s has region %s, a %s; officials are of a county or above", o.Account, o.Region, r.Level)
}

// covers reports whether an official's region contains code (a region or
// place code); the national region contains every code.
func covers(official, code string) bool {
	if official == nationalRegion {
		return true
	}
	return code != "" && code != nationalRegion && strings.HasPrefix(code, region.Prefix(official))
}

// parentAuthority returns the region one level above reg to which abuse
// alerts about reg's officials go: the city of a county, the province of a
// city, the nation for a province. City-level placeholders (市辖区, 县,
// 省直辖县级行政区划) hold no officials and are skipped.
func (n *Node) parentAuthority(reg string) string {
	if reg == nationalRegion {
		return nationalRegion
	}
	anc := n.regions.Ancestors(reg)
	for i := len(anc) - 1; i >= 0; i-- {
		a := anc[i]
		if a.Level == region.City && (a.Name == "市辖区" || a.Name == "县" || strings.Contains(a.Name, "直辖")) {
			continue
		}
		return a.Code
	}
	return nationalRegion
}

// OverrideConfig configures manual code changes and abuse detection. Zero
// values take the defaults.
type OverrideConfig struct {
	// A batch of more than CityBatch persons (default 20) needs a requester
	// and an approver at city level or above; more than ProvinceBatch
	// (default 500), province or above. No request names more than
	// MaxBatch persons (default 5000).
	CityBatch, ProvinceBatch, MaxBatch int
	// PresenceWindow: a visit this recent (default 14 days) to a place in an
	// official's region brings a person who lives elsewhere under the
	// official's authority.
	PresenceWindow time.Duration
	// Daily quotas: the persons an account of each level may ask overrides
	// for in 24 hours before an alert (defaults 20, 100, 500, 2000),
	// multiplied by QuotaFactor (default 2).
	QuotaCounty, QuotaCity, QuotaProvince, QuotaNational int
	QuotaFactor                                          float64
	// Shared attributes: a value held by at least SharedMajority of a batch
	// (default 0.5) and by less than RareShare of the population (default
	// 0.05), in a batch of at least MinSharedBatch persons (default 10)
	// whose holders mostly share no exposure.
	SharedMajority, RareShare float64
	MinSharedBatch            int
	// CaseWindow: a case isolated this recently (default 28 days) is open,
	// a positive sample this recent is epidemic evidence.
	CaseWindow time.Duration
	// AppealDeadline is the time the region that produced an override has
	// to answer an appeal before it goes one level up (default 24h).
	AppealDeadline time.Duration
}

func (c OverrideConfig) withDefaults() OverrideConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.CityBatch, 20)
	def(&c.ProvinceBatch, 500)
	def(&c.MaxBatch, 5000)
	def(&c.QuotaCounty, 20)
	def(&c.QuotaCity, 100)
	def(&c.QuotaProvince, 500)
	def(&c.QuotaNational, 2000)
	def(&c.MinSharedBatch, 10)
	if c.PresenceWindow <= 0 {
		c.PresenceWindow = 14 * 24 * time.Hour
	}
	if c.QuotaFactor <= 0 {
		c.QuotaFactor = 2
	}
	if c.SharedMajority <= 0 {
		c.SharedMajority = 0.5
	}
	if c.RareShare <= 0 {
		c.RareShare = 0.05
	}
	if c.CaseWindow <= 0 {
		c.CaseWindow = 28 * 24 * time.Hour
	}
	if c.AppealDeadline <= 0 {
		c.AppealDeadline = 24 * time.Hour
	}
	return c
}

// neededLevel is the lowest level that may request or approve a batch of k
// persons.
func (c *OverrideConfig) neededLevel(k int) int {
	switch {
	case k > c.ProvinceBatch:
		return levelProvince
	case k > c.CityBatch:
		return levelCity
	}
	return levelCounty
}

func (c *OverrideConfig) quota(level int) int {
	base := [...]int{levelNational: c.QuotaNational, levelProvince: c.QuotaProvince, levelCity: c.QuotaCity, levelCounty: c.QuotaCounty}[level]
	return int(float64(base) * c.QuotaFactor)
}

// The statuses of an override.
const (
	OverridePending = "pending" // waiting for a second official (Held: and for an auditor)
	OverrideHeld    = "held"    // approved, but held by abuse alerts until an auditor releases it
	OverrideActive  = "active"  // applied: the rules colour the persons' codes until it expires
	OverrideExpired = "expired" // its expiry has passed (whether it was ever applied or not)
	OverrideRefused = "refused" // refused by an official or an auditor; never applied
	OverrideRevoked = "revoked" // withdrawn or revoked before its expiry
)

// OverrideDecision is one step taken on a request after it was made.
type OverrideDecision struct {
	Seq   uint64 // the event
	By    Official
	At    time.Time
	Note  string
	Audit bool // taken by an auditor (a refusal of a held request)
}

// Override is a request for a manual colour and what became of it.
type Override struct {
	ID        string // "OV-<seq>"
	Seq       uint64 // the request event
	Persons   []uint32
	Colour    health.Colour
	Reason    health.OverrideReason
	Evidence  []uint64 // referenced events
	Documents []string // referenced documents ("doc:..."), opaque
	Until     time.Time
	Note      string
	Requester Official
	Requested time.Time
	// Alerts are the abuse alerts raised on the request (events); while
	// there are some and no auditor has released it, it is held.
	Alerts     []uint64
	Approval   *OverrideDecision
	Refusal    *OverrideDecision
	Clearance  *OverrideDecision // an auditor released the held request
	Revocation *OverrideDecision
	Status     string // at the time of reading (see the Override* statuses)
	Held       bool   // alerts wait for an auditor
}

// OverrideID formats a request event as an override id ("OV-42").
func OverrideID(seq uint64) string { return "OV-" + strconv.FormatUint(seq, 10) }

// ParseOverrideID parses an override id; ok is false if s is not one.
func ParseOverrideID(s string) (uint64, bool) {
	if !strings.HasPrefix(s, "OV-") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[3:], 10, 64)
	return n, err == nil && n > 0
}

// held: alerts wait for an auditor's release.
func (o *Override) held() bool { return len(o.Alerts) > 0 && o.Clearance == nil }

// applied reports whether the rules see the override (until it expires).
func (o *Override) applied() bool {
	return o.Approval != nil && !o.held() && o.Refusal == nil && o.Revocation == nil
}

func (o *Override) status(now time.Time) string {
	switch {
	case o.Revocation != nil:
		return OverrideRevoked
	case o.Refusal != nil:
		return OverrideRefused
	case !now.Before(o.Until):
		return OverrideExpired
	case o.Approval == nil:
		return OverridePending
	case o.held():
		return OverrideHeld
	}
	return OverrideActive
}

// view is a copy of o for callers, with its status at now.
func (o *Override) view(now time.Time) Override {
	c := *o
	c.Persons = slices.Clone(o.Persons)
	c.Evidence = slices.Clone(o.Evidence)
	c.Documents = slices.Clone(o.Documents)
	c.Alerts = slices.Clone(o.Alerts)
	c.Reason.Colours = slices.Clone(o.Reason.Colours)
	c.Status = o.status(now)
	final := c.Status == OverrideRefused || c.Status == OverrideRevoked || c.Status == OverrideExpired
	c.Held = o.held() && !final
	return c
}

// overrideState is the overrides view: requests by id and by person, the
// abuse alerts, each account's recent requests (for its daily quota) and
// the non-health attributes abuse detection compares (abuse.go). Guarded
// by n.mu like the other views.
type overrideState struct {
	byID     map[uint64]*Override
	list     []*Override // in request order
	ofPerson map[uint32][]*Override
	alerts   []AbuseAlert
	recent   map[string][]acctRequest // by account
	attrs    attributes
}

type acctRequest struct {
	at      time.Time
	persons int
}

func newOverrideState() *overrideState {
	return &overrideState{byID: map[uint64]*Override{}, ofPerson: map[uint32][]*Override{},
		recent: map[string][]acctRequest{}, attrs: newAttributes()}
}

// The event data of the override events.
type overrideData struct {
	Account   string   `json:"account"`
	Region    string   `json:"region"`
	Persons   []uint32 `json:"persons"`
	Reason    string   `json:"reason"`
	Evidence  []uint64 `json:"evidence,omitempty"`
	Documents []string `json:"documents,omitempty"`
	Note      string   `json:"note,omitempty"`
}

type decisionData struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Note    string `json:"note,omitempty"`
}

// applyOverride folds the override and abuse-alert events (called by
// apply). A step that applies or un-applies an override adds its persons
// to affected.
func (n *Node) applyOverride(e *health.Event, affected map[uint32]struct{}) error {
	ov := n.ov
	if e.Kind == health.EvOverrideRequested {
		var d overrideData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("override data: %w", err)
		}
		reason, err := health.ParseOverrideReason("reason", d.Reason)
		if err != nil {
			// The list only grows; a ground no longer offered still replays.
			reason = health.OverrideReason{Code: d.Reason, Title: map[string]string{"zh": d.Reason, "en": d.Reason}}
		}
		o := &Override{ID: OverrideID(e.Seq), Seq: e.Seq, Persons: d.Persons, Colour: health.Colour(e.Aux), Reason: reason,
			Evidence: d.Evidence, Documents: d.Documents, Until: e.Until, Note: d.Note,
			Requester: Official{Account: d.Account, Region: d.Region}, Requested: e.Recorded}
		ov.byID[e.Seq] = o
		ov.list = append(ov.list, o)
		for _, p := range o.Persons {
			ov.ofPerson[p] = append(ov.ofPerson[p], o)
		}
		recent := slices.DeleteFunc(ov.recent[d.Account], func(r acctRequest) bool { return e.Recorded.Sub(r.at) >= 24*time.Hour })
		ov.recent[d.Account] = append(recent, acctRequest{at: e.Recorded, persons: len(d.Persons)})
		return nil
	}
	o, ok := ov.byID[e.Ref]
	if !ok {
		return fmt.Errorf("%s of unknown override %d", e.Kind, e.Ref)
	}
	if e.Kind == health.EvAbuseAlert {
		var d alertData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("abuse alert data: %w", err)
		}
		ov.alerts = append(ov.alerts, AbuseAlert{Seq: e.Seq, Override: o.ID, Request: o.Seq, Check: d.Check,
			Flagged: d.Flagged, Batch: len(o.Persons), Sample: d.Sample, Counts: d.Counts, Detail: d.Detail,
			Account: o.Requester.Account, Region: o.Requester.Region, Target: region.Unpack(e.Region), At: e.Recorded})
		o.Alerts = append(o.Alerts, e.Seq)
		return nil
	}
	var d decisionData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("override decision data: %w", err)
	}
	dec := &OverrideDecision{Seq: e.Seq, By: Official{Account: d.Account, Region: d.Region}, At: e.Recorded, Note: d.Note, Audit: e.Aux == 1}
	was := o.applied()
	switch e.Kind {
	case health.EvOverrideApproved:
		o.Approval = dec
	case health.EvOverrideRefused:
		o.Refusal = dec
	case health.EvOverrideRevoked:
		o.Revocation = dec
	case health.EvOverrideCleared:
		o.Clearance = dec
	}
	if affected != nil && o.applied() != was {
		for _, p := range o.Persons {
			affected[p] = struct{}{}
		}
	}
	return nil
}

// addApplied adds to out every person with an applied override (for the
// evaluation at start-up).
func (s *overrideState) addApplied(out map[uint32]struct{}) {
	for _, o := range s.list {
		if o.applied() {
			for _, p := range o.Persons {
				out[p] = struct{}{}
			}
		}
	}
}

// overrideItems is the overrides evidence of a person: the applied
// overrides that have not expired at now and that no appeal lifted for p.
func (n *Node) overrideItems(p uint32, now time.Time) []health.OverrideItem {
	list := n.ov.ofPerson[p]
	if len(list) == 0 {
		return nil
	}
	var out []health.OverrideItem
	for _, o := range list {
		if !o.applied() || !now.Before(o.Until) || n.lifted(o.Seq, p) {
			continue
		}
		it := health.OverrideItem{Event: o.Approval.Seq, Request: o.Seq, Colour: o.Colour, Reason: o.Reason.Code, Until: o.Until,
			RequesterRegion: o.Requester.Region, ApproverRegion: o.Approval.By.Region}
		if o.Clearance != nil {
			it.Cleared = o.Clearance.Seq
		}
		out = append(out, it)
	}
	return out
}

// OverrideInput is a request for a manual colour.
type OverrideInput struct {
	Persons []uint32
	Colour  string // yellow or red
	Reason  string // a code of health.OverrideReasons
	// Evidence references: event ids ("e42") of epidemic events that
	// concern the persons or a case, and documents ("doc:" and 1 to 200
	// bytes, e.g. "doc:流调报告 2022-0611-07"), kept as given. At least one.
	Evidence []string
	Until    time.Time // the expiry: required, at most 14 days ahead
	Note     string    // optional, at most 500 bytes
}

// maxEvidence is the most references one request may carry.
const maxEvidence = 50

// epidemic reports whether events of kind k can support an override.
func epidemic(k health.EventKind) bool {
	switch k {
	case health.EvVisit, health.EvTestResult, health.EvTestCorrected, health.EvRiskDeclared,
		health.EvCaseOpened, health.EvStopsReplaced, health.EvContactTraced:
		return true
	}
	return false
}

// overrideRequest is a validated request with its referenced events.
type overrideRequest struct {
	persons   []uint32
	colour    health.Colour
	reason    health.OverrideReason
	refs      []health.Event // the referenced events, in the order given
	refField  []string       // the field of each
	documents []string
	until     time.Time
	note      string
}

// checkOverrideInput validates a request's fields and loads the referenced
// events. Every error is Invalid and names the field.
func (n *Node) checkOverrideInput(ctx context.Context, in OverrideInput, now time.Time) (*overrideRequest, error) {
	c := &n.cfg.Overrides
	r := &overrideRequest{}
	if len(in.Persons) == 0 || len(in.Persons) > c.MaxBatch {
		return nil, health.Errorf(health.Invalid, "invalid_persons", "persons", "give 1 to %d persons", c.MaxBatch)
	}
	nPersons := n.nPersons.Load()
	seen := make(map[uint32]bool, len(in.Persons))
	for i, p := range in.Persons {
		f := fmt.Sprintf("persons[%d]", i)
		if p == 0 || p > nPersons {
			return nil, health.Errorf(health.Invalid, "unknown_person", f, "no person %s", health.PersonID(p))
		}
		if seen[p] {
			return nil, health.Errorf(health.Invalid, "duplicate_person", f, "%s is named twice", health.PersonID(p))
		}
		seen[p] = true
	}
	r.persons = slices.Clone(in.Persons)
	colour, ok := health.ParseColour(in.Colour)
	if !ok || colour == health.Green {
		return nil, health.Errorf(health.Invalid, "invalid_colour", "colour", "%q is not yellow or red (an override only raises a code; revoke one to end it)", in.Colour)
	}
	r.colour = colour
	reason, err := health.ParseOverrideReason("reason", in.Reason)
	if err != nil {
		return nil, err
	}
	if !reason.Allows(colour) {
		return nil, health.Errorf(health.Invalid, "colour_not_allowed", "colour", "the ground %s justifies %s, not %s", reason.Code, colourList(reason.Colours), colour)
	}
	r.reason = reason
	if len(in.Evidence) == 0 || len(in.Evidence) > maxEvidence {
		return nil, health.Errorf(health.Invalid, "missing_evidence", "evidence", "give 1 to %d evidence references (event ids or doc: references)", maxEvidence)
	}
	seenRef := map[string]bool{}
	for i, ref := range in.Evidence {
		f := fmt.Sprintf("evidence[%d]", i)
		if seenRef[ref] {
			return nil, health.Errorf(health.Invalid, "duplicate_evidence", f, "%q is given twice", truncateText(ref, 40))
		}
		seenRef[ref] = true
		if doc, ok := strings.CutPrefix(ref, "doc:"); ok {
			doc = strings.TrimSpace(doc)
			if doc == "" || len(doc) > 200 || !utf8.ValidString(doc) {
				return nil, health.Errorf(health.Invalid, "invalid_evidence", f, "a document reference is doc: and 1 to 200 bytes of text")
			}
			r.documents = append(r.documents, "doc:"+doc)
			continue
		}
		seq, ok := health.ParseEventID(ref)
		if !ok {
			return nil, health.Errorf(health.Invalid, "invalid_evidence", f, "%q is neither an event id (e42) nor a document reference (doc:...)", truncateText(ref, 40))
		}
		e, err := n.store.Event(ctx, seq)
		if errors.Is(err, sqlite.ErrNotFound) {
			return nil, health.Errorf(health.Invalid, "unknown_evidence", f, "there is no event %s", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("node: evidence %s: %w", ref, err)
		}
		if !epidemic(e.Kind) {
			return nil, health.Errorf(health.Invalid, "evidence_not_epidemic", f, "event %s is a %s, not epidemic evidence (a test, visit, case, trajectory, contact or risk area)", ref, e.Kind)
		}
		e.Data = slices.Clone(e.Data)
		r.refs = append(r.refs, e)
		r.refField = append(r.refField, f)
	}
	if in.Until.IsZero() {
		return nil, health.Errorf(health.Invalid, "missing_field", "until", "is required: every override expires, at most 14 days ahead")
	}
	if !in.Until.After(now) || in.Until.Sub(now) > health.MaxOverrideDuration {
		return nil, health.Errorf(health.Invalid, "invalid_until", "until", "%s must be in the future and at most 14 days ahead", health.FormatTime(in.Until))
	}
	r.until = in.Until.UTC().Truncate(time.Second)
	note, err := overrideNote(in.Note, false)
	if err != nil {
		return nil, err
	}
	r.note = note
	return r, nil
}

func colourList(cs []health.Colour) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, " or ")
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// overrideNote checks a decision's note (field "note").
func overrideNote(note string, required bool) (string, error) {
	note = strings.TrimSpace(note)
	if required && note == "" {
		return "", health.Errorf(health.Invalid, "missing_field", "note", "is required: say why")
	}
	if len(note) > 500 || !utf8.ValidString(note) {
		return "", health.Errorf(health.Invalid, "invalid_note", "note", "must be at most 500 bytes of text")
	}
	return note, nil
}

// RequestOverride records an official's request for a manual colour. The
// request is validated (Invalid errors name the field: persons[i], colour,
// reason, evidence[i], until, note); the official's level must meet the
// batch size (more than CityBatch persons: city or above; more than
// ProvinceBatch: province or above) and the official's region must cover
// every person, by home or by a visit in the last PresenceWindow
// (Permission errors otherwise). A refused request writes nothing. Abuse
// detection runs on the request before anyone can approve it; the alerts
// it raises are recorded with the request, addressed to the level above
// the requester, and hold the override until an auditor releases it. The
// override is pending: nothing is applied until a second official approves
// it.
func (n *Node) RequestOverride(ctx context.Context, off Official, in OverrideInput) (Override, []AbuseAlert, error) {
	now := n.now()
	lvl, err := n.officialLevel(off)
	if err != nil {
		return Override{}, nil, err
	}
	req, err := n.checkOverrideInput(ctx, in, now)
	if err != nil {
		return Override{}, nil, err
	}
	if need := n.cfg.Overrides.neededLevel(len(req.persons)); lvl > need {
		return Override{}, nil, health.Errorf(health.Permission, "insufficient_level", "persons",
			"a batch of %d persons needs an official at %s level or above; %s is at %s level (region %s)",
			len(req.persons), levelName(need), off.Account, levelName(lvl), off.Region)
	}
	scan, err := n.scanRequest(ctx, off, req, now)
	if err != nil {
		return Override{}, nil, err
	}
	data, err := json.Marshal(overrideData{Account: off.Account, Region: off.Region, Persons: req.persons, Reason: req.reason.Code,
		Evidence: refSeqs(req.refs), Documents: req.documents, Note: req.note})
	if err != nil {
		return Override{}, nil, err
	}
	target := n.parentAuthority(off.Region)
	var seq uint64
	err = n.submitSolo(ctx, func(g *group) error {
		findings := slices.Clone(scan)
		if f, ok := n.quotaFinding(off, lvl, req.persons, g.now); ok {
			findings = append(findings, f)
		}
		alerts := make([][]byte, len(findings))
		for i, f := range findings {
			b, err := json.Marshal(f)
			if err != nil {
				return err
			}
			alerts[i] = b
		}
		b := batchID(g)
		ev := health.Event{Kind: health.EvOverrideRequested, At: g.now, Until: req.until, Region: packedRegion(off.Region),
			Aux: int64(req.colour), Actor: off.actor(), Batch: b, Data: data}
		if len(req.persons) == 1 {
			ev.Person = req.persons[0]
		}
		seq = g.add(ev)
		for _, a := range alerts {
			g.add(health.Event{Kind: health.EvAbuseAlert, At: g.now, Region: packedRegion(target), Ref: seq, Actor: "node", Batch: b, Data: a})
		}
		return nil
	}, nil)
	if err != nil {
		return Override{}, nil, err
	}
	o, err := n.Override(OverrideID(seq))
	if err != nil {
		return Override{}, nil, err
	}
	return o, n.alertsOf(o.Alerts), nil
}

func refSeqs(es []health.Event) []uint64 {
	if len(es) == 0 {
		return nil
	}
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// link is how a person is tied to an official's region.
type link uint8

const (
	linkNone       link = iota
	linkUnverified      // only unverified presence (a remote scan, impossible travel, a self-report)
	linkVisit           // a verified visit within the presence window
	linkHome            // the home is inside the region
)

// linkTo says how person p is tied to region reg at now. Callers hold n.mu
// or are the writer.
func (n *Node) linkTo(reg string, p uint32, now time.Time) link {
	if covers(reg, n.home(p)) {
		return linkHome
	}
	best := linkNone
	for _, v := range n.visits.ByPerson(p, now.Add(-n.cfg.Overrides.PresenceWindow), now.Add(n.cfg.ClockSkew)) {
		if !covers(reg, n.places[v.Place].Region) {
			continue
		}
		if !v.Unverified {
			return linkVisit
		}
		best = linkUnverified
	}
	return best
}

// checkCoverage returns a Permission error unless reg covers every person.
// Callers hold n.mu or are the writer.
func (n *Node) checkCoverage(off Official, persons []uint32, now time.Time) error {
	missing, first := 0, -1
	for i, p := range persons {
		if n.linkTo(off.Region, p, now) == linkNone {
			missing++
			if first < 0 {
				first = i
			}
		}
	}
	if missing == 0 {
		return nil
	}
	return health.Errorf(health.Permission, "outside_region", fmt.Sprintf("persons[%d]", first),
		"%d of the %d persons (first %s) neither live in region %s nor were there in the last %d days: outside the authority of %s",
		missing, len(persons), health.PersonID(persons[first]), off.Region, int(n.cfg.Overrides.PresenceWindow.Hours()/24), off.Account)
}

// ApproveOverride is the second signature on a pending request. The
// approver must be another account than the requester, at the level the
// batch needs, with a region covering every person (Permission errors
// otherwise); a request that is not pending is a Conflict, an unknown one
// NotFound. An approved request without alerts (or released by an
// auditor) is applied at once; one with alerts stays held.
func (n *Node) ApproveOverride(ctx context.Context, off Official, id, note string) (Override, error) {
	return n.decideOverride(ctx, off, id, note, false, health.EvOverrideApproved, 0, func(o *Override, lvl int, now time.Time) error {
		if err := wantStatus(o, now, "approved", OverridePending); err != nil {
			return err
		}
		return n.checkSecondOfficial(off, o, lvl, now, "approve")
	})
}

// RefuseOverride refuses a pending request, with a note saying why. The
// refusing official must be one who could approve it (see
// ApproveOverride); the requester withdraws their own with RevokeOverride.
func (n *Node) RefuseOverride(ctx context.Context, off Official, id, note string) (Override, error) {
	return n.decideOverride(ctx, off, id, note, true, health.EvOverrideRefused, 0, func(o *Override, lvl int, now time.Time) error {
		if err := wantStatus(o, now, "refused", OverridePending); err != nil {
			return err
		}
		return n.checkSecondOfficial(off, o, lvl, now, "refuse")
	})
}

// RevokeOverride ends a pending, held or active override before its
// expiry, with a note: the requester withdrawing it, the approver, or an
// official who could have approved it (level and coverage). The codes it
// coloured are re-evaluated at once.
func (n *Node) RevokeOverride(ctx context.Context, off Official, id, note string) (Override, error) {
	return n.decideOverride(ctx, off, id, note, true, health.EvOverrideRevoked, 0, func(o *Override, lvl int, now time.Time) error {
		if err := wantStatus(o, now, "revoked", OverridePending, OverrideHeld, OverrideActive); err != nil {
			return err
		}
		if off.Account == o.Requester.Account || (o.Approval != nil && off.Account == o.Approval.By.Account) {
			return nil
		}
		if need := n.cfg.Overrides.neededLevel(len(o.Persons)); lvl > need {
			return health.Errorf(health.Permission, "insufficient_level", "id", "revoking %s (%d persons) needs its requester, its approver or an official at %s level or above",
				o.ID, len(o.Persons), levelName(need))
		}
		return n.checkCoverage(off, o.Persons, now)
	})
}

// ClearOverride is an auditor's release of a request held by abuse alerts,
// with a note saying why the alerts do not stand: once approved, it
// applies. The auditor's region must cover the region the alerts went to
// (the level above the requester), and the auditor must be neither the
// requester nor the approver (Permission errors); a request that is not
// held is a Conflict.
func (n *Node) ClearOverride(ctx context.Context, auditor Official, id, note string) (Override, error) {
	return n.decideOverride(ctx, auditor, id, note, true, health.EvOverrideCleared, 0, func(o *Override, _ int, now time.Time) error {
		if err := wantStatus(o, now, "released", OverridePending, OverrideHeld); err != nil {
			return err
		}
		if !o.held() {
			return health.Errorf(health.Conflict, "not_held", "id", "%s has no abuse alerts to clear", o.ID)
		}
		return n.checkAuditor(auditor, o)
	})
}

// AuditRefuseOverride is an auditor's refusal of a pending or held
// request (alerted or not): it is never applied. The auditor is checked as
// for ClearOverride.
func (n *Node) AuditRefuseOverride(ctx context.Context, auditor Official, id, note string) (Override, error) {
	return n.decideOverride(ctx, auditor, id, note, true, health.EvOverrideRefused, 1, func(o *Override, _ int, now time.Time) error {
		if err := wantStatus(o, now, "refused", OverridePending, OverrideHeld); err != nil {
			return err
		}
		return n.checkAuditor(auditor, o)
	})
}

func wantStatus(o *Override, now time.Time, verb string, ok ...string) error {
	st := o.status(now)
	if slices.Contains(ok, st) {
		return nil
	}
	return health.Errorf(health.Conflict, "override_"+st, "id", "%s is %s and cannot be %s", o.ID, st, verb)
}

// checkSecondOfficial checks the four-eyes rule for an approval or a refusal.
func (n *Node) checkSecondOfficial(off Official, o *Override, lvl int, now time.Time, verb string) error {
	if off.Account == o.Requester.Account {
		return health.Errorf(health.Permission, "own_request", "id", "%s requested %s; a second official must %s it", off.Account, o.ID, verb)
	}
	if need := n.cfg.Overrides.neededLevel(len(o.Persons)); lvl > need {
		return health.Errorf(health.Permission, "insufficient_level", "id", "%s names %d persons and needs an official at %s level or above to %s it; %s is at %s level (region %s)",
			o.ID, len(o.Persons), levelName(need), verb, off.Account, levelName(lvl), off.Region)
	}
	return n.checkCoverage(off, o.Persons, now)
}

// checkAuditor checks that an auditor stands above the request.
func (n *Node) checkAuditor(auditor Official, o *Override) error {
	if auditor.Account == o.Requester.Account || (o.Approval != nil && auditor.Account == o.Approval.By.Account) {
		return health.Errorf(health.Permission, "own_request", "id", "%s took part in %s and cannot audit it", auditor.Account, o.ID)
	}
	target := n.parentAuthority(o.Requester.Region)
	if !covers(auditor.Region, target) {
		return health.Errorf(health.Permission, "outside_region", "id", "%s is audited at %s (the level above %s); auditor %s is of region %s",
			o.ID, target, o.Requester.Region, auditor.Account, auditor.Region)
	}
	return nil
}

// decideOverride writes one decision on request id after check passes on
// the writer (against the current state).
func (n *Node) decideOverride(ctx context.Context, off Official, id, note string, noteRequired bool, kind health.EventKind, aux int64,
	check func(o *Override, lvl int, now time.Time) error) (Override, error) {
	lvl, err := n.officialLevel(off)
	if err != nil {
		return Override{}, err
	}
	seq, ok := ParseOverrideID(id)
	if !ok {
		return Override{}, health.Errorf(health.NotFound, "unknown_override", "id", "%q is not an override id (OV-<n>)", truncateText(id, 40))
	}
	note, err = overrideNote(note, noteRequired)
	if err != nil {
		return Override{}, err
	}
	data, err := json.Marshal(decisionData{Account: off.Account, Region: off.Region, Note: note})
	if err != nil {
		return Override{}, err
	}
	err = n.submitSolo(ctx, func(g *group) error {
		o, ok := n.ov.byID[seq]
		if !ok {
			return health.Errorf(health.NotFound, "unknown_override", "id", "no override %s", id)
		}
		if err := check(o, lvl, g.now); err != nil {
			return err
		}
		ev := health.Event{Kind: kind, At: g.now, Region: packedRegion(off.Region), Ref: seq, Aux: aux, Actor: off.actor(), Batch: batchID(g), Data: data}
		if len(o.Persons) == 1 {
			ev.Person = o.Persons[0]
		}
		g.add(ev)
		return nil
	}, nil)
	if err != nil {
		return Override{}, err
	}
	return n.Override(id)
}

// Override returns one override with its status now, or NotFound.
func (n *Node) Override(id string) (Override, error) {
	seq, ok := ParseOverrideID(id)
	now := n.now()
	n.mu.RLock()
	defer n.mu.RUnlock()
	o, found := n.ov.byID[seq]
	if !ok || !found {
		return Override{}, health.Errorf(health.NotFound, "unknown_override", "id", "no override %s", truncateText(id, 40))
	}
	return o.view(now), nil
}

// OverrideFilter selects overrides: requested by an official of a region
// inside Region ("" or "000000": all), with status Status ("": all).
type OverrideFilter struct {
	Region string
	Status string
}

// Overrides lists the overrides that pass the filter, newest first.
func (n *Node) Overrides(f OverrideFilter) []Override {
	now := n.now()
	reg := f.Region
	if reg == "" {
		reg = nationalRegion
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []Override
	for i := len(n.ov.list) - 1; i >= 0; i-- {
		o := n.ov.list[i]
		if !covers(reg, o.Requester.Region) {
			continue
		}
		if f.Status != "" && o.status(now) != f.Status {
			continue
		}
		out = append(out, o.view(now))
	}
	return out
}

// AppealRoute says where a person appeals a reason of their code: the
// region that produced it, within Deadline, after which the appeal goes to
// Escalation, the level above.
type AppealRoute struct {
	Region     string
	Escalation string
	Deadline   time.Duration
}

// OverrideNotice is what a person is shown of an override applied to
// their code: the ground and its title, the expiry, the authority that
// approved it, the events the code's reason cites, and the appeal route.
// It does not name the other persons of the batch or the officials.
type OverrideNotice struct {
	ID              string
	Colour          health.Colour
	Reason          health.OverrideReason
	Until           time.Time
	RequesterRegion string
	Authority       string // the approver's region
	AuthorityName   string // its full name, e.g. "广东省 广州市"
	Approved        time.Time
	Evidence        []uint64 // the approval, the request (and an auditor's release): the code reason's evidence
	Appeal          AppealRoute
}

// PersonOverrides returns the overrides applied to person p's code now,
// soonest expiry first, or NotFound for an unknown person.
func (n *Node) PersonOverrides(p uint32) ([]OverrideNotice, error) {
	if p == 0 || p > n.nPersons.Load() {
		return nil, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(p))
	}
	now := n.now()
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []OverrideNotice
	for _, o := range n.ov.ofPerson[p] {
		if !o.applied() || !now.Before(o.Until) || n.lifted(o.Seq, p) {
			continue
		}
		ev := []uint64{o.Approval.Seq, o.Seq}
		if o.Clearance != nil {
			ev = append(ev, o.Clearance.Seq)
		}
		auth := o.Approval.By.Region
		name := "全国"
		if auth != nationalRegion {
			name = n.regions.FullName(auth)
		}
		reason := o.Reason
		reason.Colours = slices.Clone(reason.Colours)
		out = append(out, OverrideNotice{ID: o.ID, Colour: o.Colour, Reason: reason, Until: o.Until,
			RequesterRegion: o.Requester.Region, Authority: auth, AuthorityName: name, Approved: o.Approval.At, Evidence: ev,
			Appeal: AppealRoute{Region: o.Requester.Region, Escalation: n.parentAuthority(o.Requester.Region), Deadline: n.cfg.Overrides.AppealDeadline}})
	}
	slices.SortFunc(out, func(a, b OverrideNotice) int { return cmp.Or(a.Until.Compare(b.Until), strings.Compare(a.ID, b.ID)) })
	return out, nil
}
