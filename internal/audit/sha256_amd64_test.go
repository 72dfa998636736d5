//go:build amd64 && !purego

package audit

import "testing"

// TestSHA256Fallback checks the path for CPUs without the SHA extensions.
func TestSHA256Fallback(t *testing.T) {
	defer func(v bool) { useSHANI = v }(useSHANI)
	useSHANI = false
	checkSHA256(t)
}
