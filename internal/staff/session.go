package staff

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures staff authentication. Zero values take the defaults
// given (see WithDefaults).
type Config struct {
	Password PasswordParams // default DefaultPasswordParams()
	Issuer   string         // TOTP issuer shown in authenticator apps; default "healthcode"

	IdleTimeout        time.Duration // a session ends after this long unused; default 30m
	MaxSessionAge      time.Duration // and at the latest this long after login; default 12h
	MaxSessionsPerUser int           // older sessions of an account are ended beyond this; default 10

	MaxFailures   int           // consecutive failed logins of a username before it is locked; default 5
	MaxIPFailures int           // failed logins from one client address before it is locked; default 20
	LockFor       time.Duration // the first lock; each further lock doubles it; default 15m
	MaxLockFor    time.Duration // the longest lock; default 24h

	MaxConcurrentHashes int // password hashes computed at once (each takes Password.Memory); default GOMAXPROCS
}

// WithDefaults returns c with zero values replaced by the defaults.
func (c Config) WithDefaults() Config {
	if c.Password == (PasswordParams{}) {
		c.Password = DefaultPasswordParams()
	}
	if c.Issuer == "" {
		c.Issuer = "healthcode"
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxSessionAge <= 0 {
		c.MaxSessionAge = 12 * time.Hour
	}
	if c.MaxSessionsPerUser <= 0 {
		c.MaxSessionsPerUser = 10
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.MaxIPFailures <= 0 {
		c.MaxIPFailures = 20
	}
	if c.LockFor <= 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.MaxLockFor < c.LockFor {
		c.MaxLockFor = max(24*time.Hour, c.LockFor)
	}
	if c.MaxConcurrentHashes <= 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	return c
}

// SessionPrefix starts every session token: "hcs_<43 base64url characters>".
const SessionPrefix = "hcs_"

// Sessions are the logged-in sessions of a node, in memory: a token is 32
// random bytes and only its SHA-256 is kept. A session ends after an idle
// timeout, at an absolute age, at logout, or when its account is suspended
// or its password changed. Lookup takes a read lock and a map lookup. A
// Sessions is safe for concurrent use.
type Sessions struct {
	idle, maxAge time.Duration
	perUser      int

	mu        sync.RWMutex
	byHash    map[[32]byte]*session
	byUser    map[string][]*session
	lastSweep time.Time
}

type session struct {
	hash     [32]byte
	username string
	created  time.Time
	last     atomic.Int64 // unix nanoseconds of the last use
}

// NewSessions returns an empty session table with the timeouts of c (after
// WithDefaults).
func NewSessions(c Config) *Sessions {
	c = c.WithDefaults()
	return &Sessions{idle: c.IdleTimeout, maxAge: c.MaxSessionAge, perUser: c.MaxSessionsPerUser,
		byHash: map[[32]byte]*session{}, byUser: map[string][]*session{}}
}

// Create starts a session for username at now and returns its token and
// the time it ends at the latest (now + MaxSessionAge; it ends earlier if
// idle). The account's oldest sessions beyond MaxSessionsPerUser end. It
// returns an error only if the random source fails.
func (s *Sessions) Create(username string, now time.Time) (token string, expires time.Time, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, fmt.Errorf("staff: session token: %w", err)
	}
	token = SessionPrefix + base64.RawURLEncoding.EncodeToString(b)
	se := &session{hash: sha256.Sum256([]byte(token)), username: username, created: now}
	se.last.Store(now.UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) > time.Minute {
		s.sweep(now)
	}
	list := s.byUser[username]
	for len(list) >= s.perUser {
		delete(s.byHash, list[0].hash)
		list = list[1:]
	}
	s.byUser[username] = append(list, se)
	s.byHash[se.hash] = se
	return token, now.Add(s.maxAge), nil
}

// Lookup returns the username of a live session and marks it used at now;
// ok is false for an unknown, ended or expired token.
func (s *Sessions) Lookup(token string, now time.Time) (username string, ok bool) {
	if !strings.HasPrefix(token, SessionPrefix) {
		return "", false
	}
	h := sha256.Sum256([]byte(token))
	s.mu.RLock()
	se := s.byHash[h]
	s.mu.RUnlock()
	if se == nil || !s.live(se, now) {
		return "", false
	}
	if n := now.UnixNano(); n > se.last.Load() {
		se.last.Store(n)
	}
	return se.username, true
}

func (s *Sessions) live(se *session, now time.Time) bool {
	return now.Sub(se.created) < s.maxAge && now.UnixNano()-se.last.Load() < int64(s.idle)
}

// End ends the session of token (logout). It reports whether there was one.
func (s *Sessions) End(token string) bool {
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.byHash[h]
	if se == nil {
		return false
	}
	s.remove(se)
	return true
}

// EndUser ends every session of username and returns how many there were.
func (s *Sessions) EndUser(username string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byUser[username]
	for _, se := range list {
		delete(s.byHash, se.hash)
	}
	delete(s.byUser, username)
	return len(list)
}

// Len returns the number of sessions held (live or not yet swept).
func (s *Sessions) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byHash)
}

func (s *Sessions) remove(se *session) {
	delete(s.byHash, se.hash)
	list := s.byUser[se.username]
	for i, x := range list {
		if x == se {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byUser, se.username)
	} else {
		s.byUser[se.username] = list
	}
}

// sweep drops expired sessions; s.mu is held.
func (s *Sessions) sweep(now time.Time) {
	for _, se := range s.byHash {
		if !s.live(se, now) {
			s.remove(se)
		}
	}
	s.lastSweep = now
}
