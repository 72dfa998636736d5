package web

import (
	"io/fs"
	"maps"
	"regexp"
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

// TestTemplateKeys checks that every message a template or its script
// names by key ({{$t.key}}, {{.T.key}}, T.key) exists.
func TestTemplateKeys(t *testing.T) {
	files, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:\$t|\.T|\bT)\.([a-z_]+)`)
	for _, f := range files {
		b, err := fs.ReadFile(templates, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages["zh"][m[1]]; !ok {
				t.Errorf("%s names the message %q, which does not exist", f, m[1])
			}
		}
	}
}
