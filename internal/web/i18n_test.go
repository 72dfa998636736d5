package web

import (
	"maps"
	"slices"
	"testing"
)

// TestMessagesSameKeys checks that every text has both languages.
func TestMessagesSameKeys(t *testing.T) {
	for _, l := range []string{"zh", "en"} {
		for k, v := range messages[l] {
			other := map[string]string{"zh": "en", "en": "zh"}[l]
			if _, ok := messages[other][k]; !ok {
				t.Errorf("%q is in %s but not in %s", k, l, other)
			}
			if v == "" {
				t.Errorf("%s %q is empty", l, k)
			}
		}
	}
	if got := len(messages); got != 2 {
		t.Errorf("languages: got %v, want zh and en", slices.Sorted(maps.Keys(messages)))
	}
}
