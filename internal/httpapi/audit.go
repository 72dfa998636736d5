package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

// auditHead serves a signed tree head of the audit log (public: anyone may
// keep one and later ask the node, or an auditor, to prove the log still
// extends it).
func (s *Server) auditHead(w http.ResponseWriter, r *http.Request) {
	h, err := s.n.AuditHead(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"size": h.Size, "root": b64(h.Root), "time": health.FormatTime(h.Time),
		"note": string(h.Note), "key": s.n.AuditKey()})
}

// auditProof serves an inclusion proof (?seq=N: event N is in the tree of
// ?size=M, default the current size) and/or a consistency proof (?old=K:
// the tree of size K is a prefix of the tree of size M).
func (s *Server) auditProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string) (int64, error) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, health.Errorf(health.Invalid, "invalid_"+name, name, "%s must be a positive whole number, got %q", name, v)
		}
		return n, nil
	}
	seq, err := num("seq")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	size, err := num("size")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	old, err := num("old")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if seq == 0 && old == 0 {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_seq", "seq", "give seq (an inclusion proof) or old (a consistency proof), or both"))
		return
	}
	out := map[string]any{}
	if seq > 0 {
		p, err := s.n.AuditInclusion(r.Context(), uint64(seq), size)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		size = p.Size
		out["size"], out["root"] = p.Size, b64(p.Root)
		out["inclusion"] = map[string]any{"seq": p.Seq, "event_id": health.EventID(p.Seq), "leaf": b64(p.Leaf), "proof": b64s(p.Proof)}
	}
	if old > 0 {
		p, err := s.n.AuditConsistency(r.Context(), old, size)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out["size"], out["root"] = p.Size, b64(p.Root)
		out["consistency"] = map[string]any{"old": p.Old, "old_root": b64(p.OldRoot), "proof": b64s(p.Proof)}
	}
	writeJSON(w, http.StatusOK, out)
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func b64s(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}
