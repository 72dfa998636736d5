package gazetteer

import "math"

const (
	// earthRadiusM is the mean Earth radius in metres.
	earthRadiusM = 6371008.8
	// cellDeg is the side of a grid cell in degrees, about 1.1 km of latitude.
	cellDeg = 0.01
)

// validCoords reports whether lat and lng are finite and in range.
func validCoords(lat, lng float64) bool {
	return lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}

// point is a position as a unit vector from the Earth's centre. The chord
// between two points gives their great-circle distance exactly, as in the
// haversine formula (sin²(θ/2) is a quarter of the squared chord), for a
// few multiplications.
type point [3]float64

func toPoint(lat, lng float64) point {
	const rad = math.Pi / 180
	sinLat, cosLat := math.Sincos(lat * rad)
	sinLng, cosLng := math.Sincos(lng * rad)
	return point{cosLat * cosLng, cosLat * sinLng, sinLat}
}

// chord2 returns the squared chord between a and b.
func chord2(a, b point) float64 {
	dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return dx*dx + dy*dy + dz*dz
}

// chord2ToM returns the great-circle distance in metres of a squared chord.
func chord2ToM(c2 float64) float64 {
	return 2 * earthRadiusM * math.Asin(min(1, math.Sqrt(c2)/2))
}

// mToChord2 returns the squared chord of a great-circle distance in metres.
func mToChord2(m float64) float64 {
	c := 2 * math.Sin(min(m/earthRadiusM, math.Pi)/2)
	return c * c
}

// distanceM returns the great-circle distance in metres between a and b.
func distanceM(a, b point) float64 { return chord2ToM(chord2(a, b)) }

// Distance decay: a place d metres away keeps 1-nearWeight of its text score
// plus nearWeight times proximity(d).
const (
	nearWeight = 0.25
	// nearScaleM is the distance at which proximity halves.
	nearScaleM = 1000
)

func proximity(d float64) float64 { return 1 / (1 + d/nearScaleM) }

// box is a latitude and longitude range. It does not wrap at ±180°.
type box struct{ minLat, maxLat, minLng, maxLng float64 }

// boxAround returns the smallest box holding every point within r metres of
// lat, lng.
func boxAround(lat, lng, r float64) box {
	const deg = 180 / math.Pi
	a := r / earthRadiusM // the radius as an angle
	dLng := 180.0         // when the circle holds a pole
	if s := math.Sin(a) / math.Cos(lat/deg); s < 1 {
		dLng = math.Asin(s) * deg
	}
	return box{lat - a*deg, lat + a*deg, lng - dLng, lng + dLng}
}

// cellOf returns the row and column of the grid cell holding lat, lng.
func cellOf(lat, lng float64) (int32, int32) {
	return int32(math.Floor(lat / cellDeg)), int32(math.Floor(lng / cellDeg))
}

func cellKey(row, col int32) uint64 { return uint64(uint32(row))<<32 | uint64(uint32(col)) }

// eachInBox calls fn with the slots of places in the grid cells that
// overlap b. When b spans more cells than hold places, it walks those.
func (x *Index) eachInBox(b box, fn func(slot uint32)) {
	r0, c0 := cellOf(b.minLat, b.minLng)
	r1, c1 := cellOf(b.maxLat, b.maxLng)
	if (int64(r1)-int64(r0)+1)*(int64(c1)-int64(c0)+1) > int64(len(x.cells)) {
		for k, slots := range x.cells {
			if r, c := int32(k>>32), int32(k); r >= r0 && r <= r1 && c >= c0 && c <= c1 {
				for _, s := range slots {
					fn(s)
				}
			}
		}
		return
	}
	for r := r0; r <= r1; r++ {
		for c := c0; c <= c1; c++ {
			for _, s := range x.cells[cellKey(r, c)] {
				fn(s)
			}
		}
	}
}
