// Package publish turns approved case trajectories into de-identified public
// data (the 流调 announcements) and matches a citizen's own trajectory against
// it (the self-check). It is pure: no I/O, no clock.
//
// # Report
//
// [Deidentify] builds a [Report] with two views of the same cases: one
// [Group] per county (Case.Region) and one per transmission chain
// (Case.Chain; "" is no chain). A group of at least k cases lists one
// [Record] per case: a sequence label, the case's region, age band (0-9,
// 10-19, …, 80+, "unknown"), sex (M, F, "unknown"), classification, report
// day (CST) and trajectory. A group of fewer than k cases is suppressed: it
// says "suppressed": true and "cases": "<k", lists no records and only the
// [Aggregate] stops of its cases (place, window, number of cases), so that
// the public warning still works.
//
// Nothing in the report is derived from a case id: records are labelled
// 病例1, 病例2, … within their group by report time (ties broken by the
// published content), and chains 传播链1, 传播链2, … by their first report
// time, because chain ids are internal and often built from the index case's
// id. Groups, records and stops are sorted, so equal inputs give equal
// reports whatever their order.
//
// # Trajectories
//
// A published stop is a [Window]: place, hour-rounded from (floored) and to
// (ceiled, at least one hour after from). Stops marked Home are dropped, and
// so is every stop at a place that is any case's home, so that one case's
// visit cannot reveal another's address. A case's windows at one place that
// overlap or touch after rounding are merged into one; windows that do not
// touch stay apart, so a window never covers time the case was elsewhere.
//
// # k-anonymity
//
// The quasi-identifiers are (region, age band, sex). Within a published
// group, each equivalence class (equal published tuple) smaller than k is
// generalised one step at a time: first sex becomes "*", then the age band.
// In a region group the region is the group key; a chain spans regions, so a
// chain group continues with the region: its city (first four digits), its
// province (first two), then "*". If the fully generalised class is still
// smaller than k, the smallest other classes are generalised into it whole
// until it reaches k. Each case has one generalisation level, shared by both
// views (the level is raised until both views are k-anonymous), so linking a
// case's region record to its chain record by their identical trajectories
// reveals nothing that either record hides.
//
// Options.Region selects the region groups under a code prefix and the chains
// with at least one case under it (published whole). Labels and
// generalisation are computed over all the cases given, so a filtered report
// is a part of the full one and comparing the two reveals nothing more.
//
// # Self-check
//
// [PublishedStops] flattens a report's region groups into the stops a
// self-check matches against, one per place, window and case region, with a
// count of cases. A [Matcher] indexes them by place and start time; [Matcher.Match]
// returns, for each of a citizen's stops, the published windows at the same
// place that overlap it on [From, To), without identities.
package publish

import "healthcode/internal/health"

// PlaceID is a place index that encodes in JSON as the API's place id
// ("L45").
type PlaceID uint32

// MarshalJSON implements json.Marshaler.
func (p PlaceID) MarshalJSON() ([]byte, error) {
	return []byte(`"` + health.PlaceID(uint32(p)) + `"`), nil
}
