// Package chainviz draws the chain of transmission of an epidemiological
// investigation as an SVG picture.
//
// The picture has a time axis from left to right (calendar days in China
// Standard Time) and one row per case, ordered by inferred infection time.
// Each case is a rounded box placed at its inferred infection time, with a
// marker at its onset; each link is a vertical connector at the time of the
// shared stop, between the rows of the two cases, labelled with the place
// and the time. The package does no I/O: SVG is a pure function of its
// arguments and returns the same bytes for the same input.
package chainviz

import "time"

// Limits of what SVG draws. Members beyond MaxMembers (the latest infected,
// but never the focus case) and links beyond MaxLinks (the latest) are left
// out and counted in a note under the title.
const (
	MaxMembers = 200
	MaxLinks   = 400
)

// Member is a case of a chain.
type Member struct {
	Case       string    // case id, e.g. GZ01-20220611-007
	Region     string    // region code, shown when RegionName is empty
	RegionName string    // region name, e.g. 天河区
	Start      time.Time // onset (or first positive sample); zero if unknown
	Infection  time.Time // inferred time of infection; zero: Start is used
	Basis      string    // how Infection was inferred: "shared_stop" or "incubation"
	Focus      bool      // the case asked about, highlighted
}

// Link is a stop two cases of a chain shared.
type Link struct {
	From, To    string    // case ids; From infected To when Directed
	Place       string    // place name
	At          time.Time // start of the overlap
	LowPriority bool      // it cannot have spread here: drawn dashed and grey
	Directed    bool      // an arrow from From to To; otherwise undirected
}

// Chain is what SVG draws. Members and Links may come in any order.
type Chain struct {
	Title   string // shown after the heading "传播链"; may be empty
	Members []Member
	Links   []Link
}

// Options are the presentation options of SVG.
type Options struct {
	Lang string // "zh" (the default) or "en"; "en-US" and the like count as "en"
}

// SVG draws the chain c as a standalone SVG document (UTF-8, no XML
// declaration), suitable for an <img>, inline use or an image/svg+xml
// response. It never fails: a chain without links (or without members)
// draws a picture saying there are no shared stops.
//
// Members are ordered by inferred infection time, then onset, then case id;
// a member repeated with the same case id is drawn once. Links whose ends
// are not both drawn members, or that join a case with itself, are not
// drawn. Undirected links repeated with the ends swapped (as a shared stop
// is seen from both cases) are drawn once, low priority only if every copy
// is low priority.
func SVG(c Chain, o Options) []byte {
	t := textsFor(o.Lang)
	return render(layoutChain(c, t), t)
}
