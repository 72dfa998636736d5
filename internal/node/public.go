package node

// pubCache holds the published (de-identified, approved) case data; it is
// rebuilt on read when version has moved on since built.
type pubCache struct {
	version uint64 // bumped by every review
}
