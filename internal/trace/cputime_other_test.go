//go:build !unix

package trace

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
