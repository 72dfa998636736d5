package health

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"go.yaml.in/yaml/v3"
)

//go:embed national.yaml
var nationalYAML []byte

// NationalRulesetSource returns the YAML source of the embedded national ruleset.
func NationalRulesetSource() []byte { return append([]byte(nil), nationalYAML...) }

// PlaceKind is the configuration of one kind of place.
type PlaceKind struct {
	Name       string        `json:"name"`
	Dwell      time.Duration `json:"-"`
	MinOverlap time.Duration `json:"-"`
	Zh         string        `json:"zh"`
}

// Rule is one published rule of a ruleset, compiled.
type Rule struct {
	ID      string            `json:"id"`
	Version int               `json:"version"`
	Title   map[string]string `json:"title"`
	Colour  string            `json:"colour,omitempty"`
	Star    bool              `json:"star,omitempty"`
	Each    string            `json:"each"`
	When    string            `json:"when"`
	Until   string            `json:"until,omitempty"`

	colour Colour
	when   cel.Program
	until  cel.Program
}

// Ruleset is a published, versioned set of rules plus the place-kind
// configuration. It is immutable once parsed and safe for concurrent use.
type Ruleset struct {
	ID         string
	Version    int
	Published  time.Time
	Title      map[string]string
	Params     map[string]any
	Rules      []*Rule
	PlaceKinds map[string]PlaceKind
	Source     []byte

	params map[string]any // params as CEL-ready values
}

type rulesetFile struct {
	ID        string            `yaml:"id"`
	Version   int               `yaml:"version"`
	Published time.Time         `yaml:"published"`
	Title     map[string]string `yaml:"title"`
	Params    map[string]any    `yaml:"params"`
	Rules     []struct {
		ID      string            `yaml:"id"`
		Version int               `yaml:"version"`
		Title   map[string]string `yaml:"title"`
		Colour  string            `yaml:"colour"`
		Star    bool              `yaml:"star"`
		Each    string            `yaml:"each"`
		When    string            `yaml:"when"`
		Until   string            `yaml:"until"`
	} `yaml:"rules"`
	PlaceKinds map[string]struct {
		Dwell      string `yaml:"dwell"`
		MinOverlap string `yaml:"min_overlap"`
		Zh         string `yaml:"zh"`
	} `yaml:"place_kinds"`
}

// evidenceLists are the names a rule's `each` may take; all are visible to
// every expression.
var evidenceLists = []string{"tests", "stays", "city_stays", "contacts", "overrides"}

// farFuture stands for "not yet" in timestamp-valued functions.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// NationalRuleset parses the embedded national ruleset.
func NationalRuleset() (*Ruleset, error) { return ParseRuleset(nationalYAML) }

// ParseRuleset parses and compiles a ruleset from YAML. It returns an Invalid
// error naming the rule and field for a malformed file, an unknown evidence
// list, or a CEL expression that does not compile to the right type (a `when`
// must be bool and may not refer to the evaluation time; an `until` must be a
// timestamp).
func ParseRuleset(src []byte) (*Ruleset, error) {
	var f rulesetFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, Errorf(Invalid, "invalid_ruleset", "", "YAML: %v", err)
	}
	if f.ID == "" || f.Version < 1 {
		return nil, Errorf(Invalid, "invalid_ruleset", "id", "a ruleset needs an id and a version >= 1")
	}
	rs := &Ruleset{ID: f.ID, Version: f.Version, Published: f.Published.UTC(), Title: f.Title,
		Params: f.Params, PlaceKinds: map[string]PlaceKind{}, Source: append([]byte(nil), src...), params: map[string]any{}}
	for k, v := range f.Params {
		if s, ok := v.(string); ok {
			if d, err := time.ParseDuration(s); err == nil {
				rs.params[k] = d
				continue
			}
		}
		if i, ok := v.(int); ok {
			rs.params[k] = int64(i)
			continue
		}
		rs.params[k] = v
	}
	for name, pk := range f.PlaceKinds {
		dwell, err1 := time.ParseDuration(pk.Dwell)
		overlap, err2 := time.ParseDuration(pk.MinOverlap)
		if err1 != nil || err2 != nil || dwell <= 0 || overlap <= 0 {
			return nil, Errorf(Invalid, "invalid_ruleset", "place_kinds."+name, "dwell and min_overlap must be positive durations")
		}
		rs.PlaceKinds[name] = PlaceKind{Name: name, Dwell: dwell, MinOverlap: overlap, Zh: pk.Zh}
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("rule environment: %w", err)
	}
	seen := map[string]bool{}
	for i, fr := range f.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if fr.ID == "" || fr.Version < 1 {
			return nil, Errorf(Invalid, "invalid_ruleset", field, "a rule needs an id and a version >= 1")
		}
		if seen[fr.ID] {
			return nil, Errorf(Invalid, "invalid_ruleset", field, "duplicate rule id %q", fr.ID)
		}
		seen[fr.ID] = true
		r := &Rule{ID: fr.ID, Version: fr.Version, Title: fr.Title, Colour: fr.Colour, Star: fr.Star,
			Each: fr.Each, When: strings.TrimSpace(fr.When), Until: strings.TrimSpace(fr.Until)}
		if fr.Colour != "" {
			c, ok := ParseColour(fr.Colour)
			if !ok {
				return nil, Errorf(Invalid, "invalid_ruleset", field+".colour", "%q is not green, yellow or red", fr.Colour)
			}
			r.colour = c
		} else if !fr.Star {
			return nil, Errorf(Invalid, "invalid_ruleset", field, "rule %s sets neither a colour nor a star", fr.ID)
		}
		if !contains(evidenceLists, fr.Each) {
			return nil, Errorf(Invalid, "invalid_ruleset", field+".each", "%q is not one of %s", fr.Each, strings.Join(evidenceLists, ", "))
		}
		if r.When == "" {
			return nil, Errorf(Invalid, "invalid_ruleset", field+".when", "is required")
		}
		if r.when, err = compile(env, r.When, cel.BoolType); err != nil {
			return nil, Errorf(Invalid, "invalid_ruleset", field+".when", "%v", err)
		}
		if r.Until != "" {
			if r.until, err = compile(env, r.Until, cel.TimestampType); err != nil {
				return nil, Errorf(Invalid, "invalid_ruleset", field+".until", "%v", err)
			}
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs, nil
}

// KindNames returns the configured place kinds, sorted.
func (rs *Ruleset) KindNames() []string {
	names := make([]string, 0, len(rs.PlaceKinds))
	for n := range rs.PlaceKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func compile(env *cel.Env, expr string, want *cel.Type) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("expression has type %s, want %s", ast.OutputType(), want)
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// celEnv declares what rule expressions can see. There is deliberately no
// `now`: time enters a rule only through `until`.
func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("e", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("tests", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("stays", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("city_stays", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("contacts", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("overrides", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Function("negatives_after",
			cel.Overload("negatives_after_list_timestamp_duration",
				[]*cel.Type{cel.ListType(cel.DynType), cel.TimestampType, cel.DurationType}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					times, err := negativeTimes(args[0], args[1], args[2])
					if err != nil {
						return types.NewErr("negatives_after: %v", err)
					}
					return types.Int(len(times))
				}))),
		cel.Function("cleared_at",
			cel.Overload("cleared_at_list_timestamp_int_duration",
				[]*cel.Type{cel.ListType(cel.DynType), cel.TimestampType, cel.IntType, cel.DurationType}, cel.TimestampType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					times, err := negativeTimes(args[0], args[1], args[3])
					if err != nil {
						return types.NewErr("cleared_at: %v", err)
					}
					n, ok := args[2].(types.Int)
					if !ok || n < 1 {
						return types.NewErr("cleared_at: n must be a positive int")
					}
					if int(n) > len(times) {
						return types.Timestamp{Time: farFuture}
					}
					return types.Timestamp{Time: times[n-1]}
				}))),
		cel.Function("earliest",
			cel.Overload("earliest_timestamp_timestamp",
				[]*cel.Type{cel.TimestampType, cel.TimestampType}, cel.TimestampType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ta, ok1 := a.(types.Timestamp)
					tb, ok2 := b.(types.Timestamp)
					if !ok1 || !ok2 {
						return types.NewErr("earliest: want two timestamps")
					}
					if tb.Time.Before(ta.Time) {
						return tb
					}
					return ta
				}))),
	)
}

// negativeTimes returns the sampling times of negative results in list taken
// after t, keeping only those at least gap after the previous kept one, in
// time order.
func negativeTimes(list, tv, gv ref.Val) ([]time.Time, error) {
	l, ok := list.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("want a list of tests")
	}
	t, ok1 := tv.(types.Timestamp)
	g, ok2 := gv.(types.Duration)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("want a timestamp and a duration")
	}
	var neg []time.Time
	n := int(l.Size().(types.Int))
	for i := 0; i < n; i++ {
		m, ok := l.Get(types.Int(i)).(traits.Mapper)
		if !ok {
			return nil, fmt.Errorf("list item %d is not a test", i)
		}
		if r, found := m.Find(types.String("result")); !found || r.Equal(types.String("negative")) != types.True {
			continue
		}
		at, found := m.Find(types.String("sampled_at"))
		ts, ok := at.(types.Timestamp)
		if !found || !ok {
			return nil, fmt.Errorf("list item %d has no sampled_at", i)
		}
		if ts.Time.After(t.Time) {
			neg = append(neg, ts.Time)
		}
	}
	sort.Slice(neg, func(i, j int) bool { return neg[i].Before(neg[j]) })
	var kept []time.Time
	for _, x := range neg {
		if len(kept) == 0 || x.Sub(kept[len(kept)-1]) >= g.Duration {
			kept = append(kept, x)
		}
	}
	return kept, nil
}
