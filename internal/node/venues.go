package node

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
)

// Checks on scans (DESIGN.md invariant 6; the Zhengzhou case of June 2022,
// where forwarded venue codes put people who were never there at a venue).
const (
	// RemoteScanKm is how far the phone may be from the venue when the client
	// sends its location; farther, the visit is unverified presence.
	RemoteScanKm = 1.0
	// MaxGroundKmh is the fastest ground travel between two visits (a
	// high-speed train); MaxAirKmh applies when either place is a transport
	// hub or a flight. Faster is impossible travel: unverified presence.
	MaxGroundKmh = 350.0
	MaxAirKmh    = 1000.0
	// nearKm: visits closer than this never count as travel.
	nearKm = 2.0

	// Visit aux bits: 0–1 source, 2 unverified, 3 remote scan, 4 impossible travel.
	auxUnverified = 1 << 2
	auxRemote     = 1 << 3
	auxTravel     = 1 << 4

	placeCodeCacheMax = 1 << 17
)

// UnverifiedReasons names why a visit's aux marks it unverified.
func UnverifiedReasons(aux int64) []string {
	var out []string
	if aux&auxRemote != 0 {
		out = append(out, "remote_scan")
	}
	if aux&auxTravel != 0 {
		out = append(out, "impossible_travel")
	}
	if aux&auxUnverified != 0 && len(out) == 0 {
		out = append(out, "unverified")
	}
	return out
}

// placeCodes caches verified static venue codes (payload → place), so a
// batch of scans of the same posters verifies each signature once.
type placeCodes struct {
	m sync.Map
	n atomic.Int64
}

func (c *placeCodes) get(payload string) (uint32, bool) {
	v, ok := c.m.Load(payload)
	if !ok {
		return 0, false
	}
	return v.(uint32), true
}

func (c *placeCodes) put(payload string, place uint32) {
	if c.n.Add(1) > placeCodeCacheMax {
		c.m.Clear()
		c.n.Store(0)
	}
	c.m.Store(payload, place)
}

// PlaceCode returns the signed code of a place: for a static place the code
// printed on its poster (valid while the venue key is), for a dynamic place
// the code of the current window and the time it goes stale.
func (n *Node) PlaceCode(idx uint32) (payload string, staleAt time.Time, err error) {
	pl, err := n.Place(idx)
	if err != nil {
		return "", time.Time{}, err
	}
	c := codesign.PlaceClaims{Place: health.PlaceID(idx)}
	if pl.DynamicPeriod > 0 {
		now := n.now()
		c.Period = pl.DynamicPeriod
		c.Window = codesign.PlaceWindow(now, pl.DynamicPeriod)
		// Valid in its window and the next one.
		staleAt = time.Unix((c.Window+2)*int64(pl.DynamicPeriod), 0).UTC()
	}
	payload, err = n.sign.venue.SignPlace(c)
	return payload, staleAt, err
}

// placeOfCode resolves a scanned place code to a place index. Signed codes
// ("HCP2:") must verify against the node's trust list, be issued by this
// node's venue key, and, for a dynamic place, be a dynamic code of the
// current (or previous) window at 'at'. The unsigned legacy form
// ("HCP1:L45") is accepted only when trusted (staff imports).
// PlaceOfCode returns the place a place code names (see RecordVisits for
// the codes accepted; trusted admits the unsigned staff form). It returns
// Invalid or Unprocessable for a refused code (naming field), NotFound for
// an unknown place.
func (n *Node) PlaceOfCode(field, code string, trusted bool) (uint32, error) {
	return n.placeOfCode(field, code, trusted, n.now())
}

func (n *Node) placeOfCode(field, code string, trusted bool, at time.Time) (uint32, error) {
	if strings.HasPrefix(code, health.PlaceCodePrefix) {
		if !trusted {
			return 0, health.Errorf(health.Invalid, "unsigned_place_code", field, "an unsigned place code (%s…) is accepted only in staff imports; scan the signed code on the poster", health.PlaceCodePrefix)
		}
		return health.ParsePlaceCode(field, code)
	}
	if p, ok := n.sign.placeCache.get(code); ok {
		return p, nil
	}
	c, err := codesign.VerifyPlace(code, n.sign.own, at)
	if err != nil {
		var ce *codesign.Error
		if errors.As(err, &ce) {
			kind := health.Invalid
			if ce.Code == codesign.CodeStaleCode || ce.Code == codesign.CodeExpired {
				kind = health.Unprocessable
			}
			return 0, health.Errorf(kind, "place_code_"+ce.Code, field, "the place code was refused: %s", ce.Msg)
		}
		return 0, err
	}
	if c.Issuer != VenueKeyRegion(n.sign.region) {
		return 0, health.Errorf(health.Unprocessable, "foreign_place_code", field, "the place code was issued by node %s; scan it with that node", c.Issuer)
	}
	p, ok := health.ParsePlaceID(c.Place)
	if !ok || p == 0 || p > n.nPlaces.Load() {
		return 0, health.Errorf(health.NotFound, "unknown_place", field, "no place %s", c.Place)
	}
	n.mu.RLock()
	period := n.places[p].DynamicPeriod
	n.mu.RUnlock()
	switch {
	case period > 0 && c.Period == 0:
		return 0, health.Errorf(health.Unprocessable, "place_code_static_for_dynamic", field, "place %s shows a rotating code; a static copy is not accepted", c.Place)
	case period > 0 && c.Period != period:
		return 0, health.Errorf(health.Unprocessable, "place_code_stale_code", field, "the code's rotation period does not match the place's")
	case period == 0:
		n.sign.placeCache.put(code, p)
	}
	return p, nil
}

// distanceKm is the great-circle distance between two points.
func distanceKm(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// impossibleTravel reports whether going from place a (visit starting at
// ta) to place b (starting at tb) needs a speed no transport has. The caller
// holds mu.
func (n *Node) impossibleTravel(a uint32, ta time.Time, b uint32, tb time.Time) bool {
	pa, pb := &n.places[a], &n.places[b]
	d := distanceKm(pa.Lat, pa.Lng, pb.Lat, pb.Lng)
	if d < nearKm {
		return false
	}
	hours := tb.Sub(ta).Hours()
	if hours < 0 {
		hours = -hours
	}
	limit := MaxGroundKmh
	if air(pa.Kind) || air(pb.Kind) {
		limit = MaxAirKmh
	}
	return hours == 0 || d/hours > limit
}

func air(kind string) bool { return kind == "transport_hub" || kind == "flight" }
