package staff

import (
	"sync"
	"time"

	"healthcode/internal/health"
)

// Limiter counts failed logins per key (a username or a client address)
// and locks a key after MaxFailures failures in a row: for LockFor, then
// twice as long for each further lock, up to MaxLockFor. Failures are
// forgotten after LockFor without one, locks after MaxLockFor without a
// failure, and both at Reset (a successful login). A locked key is refused
// before its password is checked. State is in memory. A Limiter is safe for
// concurrent use.
type Limiter struct {
	max           int
	lock, maxLock time.Duration

	mu        sync.Mutex
	m         map[string]*limitState
	lastSweep time.Time
}

type limitState struct {
	fails int       // failures since the last lock or reset
	last  time.Time // last failure
	locks int       // locks so far (for doubling)
	until time.Time // locked until
}

// NewLimiter returns a limiter that locks after maxFailures failures, with
// the lock durations of c (after WithDefaults).
func NewLimiter(maxFailures int, c Config) *Limiter {
	c = c.WithDefaults()
	return &Limiter{max: maxFailures, lock: c.LockFor, maxLock: c.MaxLockFor, m: map[string]*limitState{}}
}

// Check returns how long key stays locked at now (0 if it is not).
func (l *Limiter) Check(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[key]
	if st == nil || !now.Before(st.until) {
		return 0
	}
	return st.until.Sub(now)
}

// Fail records a failure of key at now and returns the lock it caused (0 if
// none).
func (l *Limiter) Fail(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	st := l.m[key]
	if st == nil {
		st = &limitState{}
		l.m[key] = st
	}
	if now.Sub(st.last) >= l.lock {
		st.fails = 0
	}
	if now.Sub(st.last) >= l.maxLock {
		st.locks = 0
	}
	st.fails++
	st.last = now
	if st.fails < l.max {
		return 0
	}
	d := l.lock
	for i := 0; i < st.locks && d < l.maxLock; i++ {
		d *= 2
	}
	d = min(d, l.maxLock)
	st.locks++
	st.fails = 0
	st.until = now.Add(d)
	return d
}

// Reset forgets key's failures and locks.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// Len returns the number of keys with state.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// sweep drops keys with nothing left to remember; l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for k, st := range l.m {
		if !now.Before(st.until) && now.Sub(st.last) >= l.maxLock {
			delete(l.m, k)
		}
	}
	l.lastSweep = now
}

// ThrottledError is the cause of a login refused because the username or
// the client address is locked; RetryAfter says when to try again.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return "locked after repeated failures; retry after " + e.RetryAfter.Round(time.Second).String()
}

// Throttled returns the error of a refused login: a health.Throttled error
// (HTTP 429) wrapping a *ThrottledError with the wait.
func Throttled(retryAfter time.Duration) error {
	e := health.Errorf(health.Throttled, "too_many_attempts", "",
		"too many failed sign-ins; try again in %s", retryAfter.Round(time.Second))
	e.Err = &ThrottledError{RetryAfter: retryAfter}
	return e
}
