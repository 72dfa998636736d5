package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

// The accountability pages: manual codes (overrides) with four-eyes
// approval, appeals, abuse alerts, and a person's side of them on /code.
// Each page is a frame that the browser fills from the API (see apiProxy);
// the server adds only what is not personal: the closed list of grounds,
// rule and check titles, the account's region and the node's time.

// localTime is the form of a datetime-local input (China Standard Time).
const localTime = "2006-01-02T15:04"

type reasonOption struct {
	Code, Title string
	Colours     string // the colours the ground can justify, space-separated
}

// overrides is the page of manual codes (人工赋码): a request form and the
// region's requests with approve and refuse.
func (h *Handler) overrides(w http.ResponseWriter, r *http.Request, p staff.Principal) {
	lang := pageLang(r)
	var reasons []reasonOption
	for _, g := range health.OverrideReasons() {
		var cs []string
		for _, c := range g.Colours {
			cs = append(cs, c.String())
		}
		reasons = append(reasons, reasonOption{g.Code, g.Title[lang], strings.Join(cs, " ")})
	}
	now := h.cfg.Node.Now().In(health.CST)
	h.render(w, r, "overrides.html", "overrides", map[string]any{
		"Region":     p.Region,
		"CanRequest": staff.Allowed(p, staff.RequestOverrides, "") == nil,
		"CanApprove": staff.Allowed(p, staff.ApproveOverrides, "") == nil,
		"Reasons":    reasons,
		"Statuses":   []string{node.OverridePending, node.OverrideHeld, node.OverrideActive, node.OverrideExpired, node.OverrideRefused, node.OverrideRevoked},
		"Until":      now.Add(7 * 24 * time.Hour).Format(localTime),
		"Min":        now.Format(localTime),
		"Max":        now.Add(health.MaxOverrideDuration).Format(localTime),
	})
}

// appeals is the appeal inbox of the account's region, with resolve.
func (h *Handler) appeals(w http.ResponseWriter, r *http.Request, p staff.Principal) {
	h.render(w, r, "appeals.html", "appeals", map[string]any{"Region": p.Region, "JS": map[string]any{
		"rules": h.ruleTitles(pageLang(r))}})
}

// abuseAlerts is the auditors' page: the alerts addressed to the region
// by override request, and release or refusal of a held request.
func (h *Handler) abuseAlerts(w http.ResponseWriter, r *http.Request, p staff.Principal) {
	lang := pageLang(r)
	checks := map[string]string{}
	for _, c := range []string{node.AbuseNoEvidence, node.AbuseSharedAttribute, node.AbuseUnverifiedOnly, node.AbuseDailyQuota, node.AbuseFarFromCases} {
		checks[c] = node.AbuseCheckTitle(c)[lang]
	}
	h.render(w, r, "abuse.html", "abuse_alerts", map[string]any{"Region": p.Region, "JS": map[string]any{
		"checks": checks, "canRelease": staff.Allowed(p, staff.Rollback, "") == nil}})
}

// code is a person's page: the code, then the overrides, appeals, notices
// and access log, each read with the person's token.
func (h *Handler) code(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "code.html", "code", map[string]any{"JS": map[string]any{"rules": h.ruleTitles(pageLang(r))}})
}

// ruleTitles maps the rules in force to their titles in lang.
func (h *Handler) ruleTitles(lang string) map[string]string {
	out := map[string]string{}
	for _, rl := range h.cfg.Node.Ruleset().Rules {
		out[rl.ID] = rl.Title[lang]
	}
	return out
}

// maxRegionNames bounds a region-names request.
const maxRegionNames = 100

type regionName struct {
	Name  string `json:"name"`  // e.g. "广东省 广州市 天河区"; "" for the national region
	Level string `json:"level"` // national, province, city, county; "" for a street or an unknown code
}

// regionNames names GB/T 2260 codes for the pages (GET
// /region-names?codes=440106,440100): public data, no session needed.
// Unknown codes are left out.
func (h *Handler) regionNames(w http.ResponseWriter, r *http.Request) {
	codes := strings.Split(r.URL.Query().Get("codes"), ",")
	if len(codes) > maxRegionNames {
		jsonError(w, http.StatusBadRequest, "too_many", "at most 100 codes")
		return
	}
	out := map[string]regionName{}
	for _, c := range codes {
		if c == staff.NationalRegion {
			out[c] = regionName{Level: staff.National.String()}
			continue
		}
		if name := h.cfg.Regions.FullName(c); name != "" {
			rn := regionName{Name: name}
			if l := staff.LevelOf(c); l != 0 {
				rn.Level = l.String()
			}
			out[c] = rn
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	json.NewEncoder(w).Encode(out)
}
