package node

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/staff"
)

// accounts is the staff directory of a node: accounts and API keys, rebuilt
// from the account events by apply, and the in-memory sessions and login
// throttles. Its own lock (mu) is taken after n.mu, never before, so that
// Authenticate, called on every request, never waits for the writer.
type accounts struct {
	cfg      staff.Config
	secrets  *staff.Secrets
	sessions *staff.Sessions
	users    *staff.Limiter // by username
	ips      *staff.Limiter // by client address
	hashes   chan struct{}  // bounds the argon2id hashes computed at once

	dummyOnce sync.Once
	dummy     string // a hash to check unknown usernames against, so they take as long

	mu     sync.RWMutex
	byName map[string]*accountState
	keys   map[string]*apiKeyState
}

type accountState struct {
	acct     staff.Account
	password string // argon2id, PHC form
	totp     []byte // the TOTP secret, sealed (nil: no second factor)
	totpLast uint64 // the step of the last TOTP code accepted (in memory)
}

type apiKeyState struct {
	key  staff.APIKey
	hash [32]byte
}

// staffRootLabel is hashed with the vault's keyed hash to give the root of
// the staff secrets (see staff.NewSecrets): a key derived from the node's
// master key, like the signing keystore's. It is not an ID number, so it
// can never be the hash of an enrolled person's.
const staffRootLabel = "healthcode staff secrets v1"

func newAccounts(c staff.Config, vault *identity.Vault) (*accounts, error) {
	c = c.WithDefaults()
	root := vault.HashID(staffRootLabel)
	sec, err := staff.NewSecrets(root[:])
	if err != nil {
		return nil, fmt.Errorf("node: staff secrets: %w", err)
	}
	return &accounts{cfg: c, secrets: sec, sessions: staff.NewSessions(c),
		users: staff.NewLimiter(c.MaxFailures, c), ips: staff.NewLimiter(c.MaxIPFailures, c),
		hashes: make(chan struct{}, c.MaxConcurrentHashes),
		byName: map[string]*accountState{}, keys: map[string]*apiKeyState{}}, nil
}

// accountData is the Data of the account events.
type accountData struct {
	Username string   `json:"username"`
	Roles    []string `json:"roles,omitempty"`
	Region   string   `json:"region,omitempty"`
	Password string   `json:"password,omitempty"` // argon2id PHC string (created, password_changed)
	TOTP     []byte   `json:"totp,omitempty"`     // sealed TOTP secret (created)
	Reason   string   `json:"reason,omitempty"`   // suspended, reinstated
}

// apiKeyData is the Data of the API key events.
type apiKeyData struct {
	KeyID    string `json:"key_id"`
	Username string `json:"username"`
	Hash     string `json:"hash,omitempty"` // hex HMAC-SHA256 of the secret (issued)
	Label    string `json:"label,omitempty"`
	Reason   string `json:"reason,omitempty"` // revoked
}

// redactCredentials returns e with the credentials removed from its Data
// (password hashes, sealed TOTP secrets, API key hashes): the event API and
// every other reader of single events get this form. Replay reads the log
// directly.
func redactCredentials(e health.Event) health.Event {
	switch e.Kind {
	case health.EvAccountCreated, health.EvPasswordChanged, health.EvAccountSuspended, health.EvAccountReinstated:
		var d accountData
		if json.Unmarshal(e.Data, &d) != nil {
			e.Data = nil
			return e
		}
		d.Password, d.TOTP = "", nil
		e.Data, _ = json.Marshal(d)
	case health.EvAPIKeyIssued, health.EvAPIKeyRevoked:
		var d apiKeyData
		if json.Unmarshal(e.Data, &d) != nil {
			e.Data = nil
			return e
		}
		d.Hash = ""
		e.Data, _ = json.Marshal(d)
	}
	return e
}

// applyAccount folds an account event into the directory. Only apply calls it.
func (n *Node) applyAccount(e *health.Event) error {
	a := n.acc
	a.mu.Lock()
	defer a.mu.Unlock()
	switch e.Kind {
	case health.EvAPIKeyIssued, health.EvAPIKeyRevoked:
		var d apiKeyData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("api key data: %w", err)
		}
		if e.Kind == health.EvAPIKeyRevoked {
			k := a.keys[d.KeyID]
			if k == nil {
				return fmt.Errorf("revoked api key %s does not exist", d.KeyID)
			}
			k.key.Revoked = e.Recorded
			return nil
		}
		var h [32]byte
		b, err := hex.DecodeString(d.Hash)
		if err != nil || len(b) != len(h) {
			return fmt.Errorf("api key %s: malformed hash", d.KeyID)
		}
		copy(h[:], b)
		a.keys[d.KeyID] = &apiKeyState{hash: h, key: staff.APIKey{ID: d.KeyID, Username: d.Username, Label: d.Label, Issued: e.Recorded, Seq: e.Seq}}
		return nil
	}
	var d accountData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("account data: %w", err)
	}
	st := a.byName[d.Username]
	if e.Kind == health.EvAccountCreated {
		if st != nil {
			return fmt.Errorf("account %s created twice", d.Username)
		}
		roles, err := staff.ParseRoles(d.Roles...)
		if err != nil {
			return fmt.Errorf("account %s: %w", d.Username, err)
		}
		a.byName[d.Username] = &accountState{password: d.Password, totp: d.TOTP, acct: staff.Account{
			Username: d.Username, Roles: roles, Region: d.Region, Level: staff.LevelOf(d.Region),
			Status: staff.Active, TOTP: d.TOTP != nil, Created: e.Recorded, CreatedBy: e.Actor, Seq: e.Seq}}
		return nil
	}
	if st == nil {
		return fmt.Errorf("%s: no account %s", e.Kind, d.Username)
	}
	switch e.Kind {
	case health.EvPasswordChanged:
		st.password = d.Password
		a.sessions.EndUser(d.Username)
	case health.EvAccountSuspended:
		st.acct.Status = staff.Suspended
		a.sessions.EndUser(d.Username)
	case health.EvAccountReinstated:
		st.acct.Status = staff.Active
	}
	return nil
}

// AccountInput is a new staff account.
type AccountInput struct {
	Username string
	Roles    staff.RoleSet
	Region   string // staff.NationalRegion or a 6-digit code, county or above
	Password string
}

// AddAccount creates a staff account, recorded as an account_created event
// by actor. The password is kept as an argon2id hash; if a role needs a
// second factor (official, auditor, operator) a TOTP secret is made, kept
// sealed, and returned once as an otpauth:// URL (totpURL, "" otherwise).
// The caller authorises actor (staff.ManageAccounts, or ManageAuditors for
// an auditor; see staff.AccountAction). It returns Invalid for a bad
// username, role set, region or weak password, and Conflict for a username
// that exists.
func (n *Node) AddAccount(ctx context.Context, actor string, in AccountInput) (acct staff.Account, totpURL string, err error) {
	a := n.acc
	if err := staff.CheckUsername(in.Username); err != nil {
		return acct, "", err
	}
	if in.Roles == 0 {
		return acct, "", health.Errorf(health.Invalid, "missing_field", "roles", "at least one role is required")
	}
	if _, err := staff.AccountRegion(n.regions, in.Region); err != nil {
		return acct, "", err
	}
	if err := staff.CheckPassword(in.Username, in.Password); err != nil {
		return acct, "", err
	}
	if _, ok := a.get(in.Username); ok {
		return acct, "", usernameTaken(in.Username)
	}
	phc, err := a.hashPassword(ctx, in.Password)
	if err != nil {
		return acct, "", err
	}
	d := accountData{Username: in.Username, Roles: in.Roles.Names(), Region: in.Region, Password: phc}
	if in.Roles.NeedsTOTP() {
		secret, url, err := staff.NewTOTP(a.cfg.Issuer, in.Username)
		if err != nil {
			return acct, "", err
		}
		if d.TOTP, err = a.secrets.Seal([]byte(secret), totpAAD(in.Username)); err != nil {
			return acct, "", err
		}
		totpURL = url
	}
	data, err := json.Marshal(d)
	if err != nil {
		return acct, "", err
	}
	err = n.submitSolo(ctx, func(g *group) error {
		if _, ok := a.get(in.Username); ok {
			return usernameTaken(in.Username)
		}
		g.add(health.Event{Kind: health.EvAccountCreated, At: g.now, Region: accountRegion(in.Region), Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
	if err != nil {
		return acct, "", err
	}
	acct, _ = a.get(in.Username)
	return acct, totpURL, nil
}

func usernameTaken(name string) error {
	return health.Errorf(health.Conflict, "username_taken", "username", "an account %s exists", name)
}

func totpAAD(username string) string { return "totp:" + username }

// accountRegion packs an account region for the event (0 for national).
func accountRegion(code string) uint32 {
	if code == staff.NationalRegion {
		return 0
	}
	return packedRegion(code)
}

func (a *accounts) get(username string) (staff.Account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	st := a.byName[username]
	if st == nil {
		return staff.Account{}, false
	}
	return st.acct, true
}

// hashPassword hashes with the configured parameters, at most
// MaxConcurrentHashes at once.
func (a *accounts) hashPassword(ctx context.Context, password string) (string, error) {
	var phc string
	err := a.withHashSlot(ctx, func() error {
		var err error
		phc, err = staff.HashPassword(password, a.cfg.Password)
		return err
	})
	return phc, err
}

func (a *accounts) withHashSlot(ctx context.Context, f func() error) error {
	select {
	case a.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.hashes }()
	return f()
}

// Login checks a username, password and (for accounts with a second
// factor) a TOTP code, and starts a session: it returns the session token
// ("hcs_…", shown once) and when the session ends at the latest. Failures
// are counted per username and per clientIP (see staff.Limiter). It returns
// Invalid for a missing username or password; Unauthorized
// ("invalid_credentials") for an unknown username, a wrong password, a
// wrong, missing or reused code, all alike; Throttled (wrapping a
// *staff.ThrottledError with the wait) while the username or the address
// is locked, without checking the password; and Permission
// ("account_suspended") for a suspended account whose credentials (password
// and code) are right.
func (n *Node) Login(ctx context.Context, username, password, otp, clientIP string) (token string, expires time.Time, err error) {
	a := n.acc
	switch {
	case username == "":
		return "", time.Time{}, health.Errorf(health.Invalid, "missing_field", "username", "is required")
	case password == "":
		return "", time.Time{}, health.Errorf(health.Invalid, "missing_field", "password", "is required")
	}
	now := n.now()
	if d := max(a.users.Check(username, now), a.ips.Check(clientIP, now)); d > 0 {
		n.log.Warn("login refused: locked", "username", logName(username), "client", clientIP, "retry_after", d.Round(time.Second))
		return "", time.Time{}, staff.Throttled(d)
	}
	a.mu.RLock()
	st := a.byName[username]
	var phc string
	if st != nil {
		phc = st.password
	}
	a.mu.RUnlock()
	if st == nil || len(password) > 4*staff.MaxPasswordLen {
		phc = a.dummyHash()
	}
	var ok bool
	err = a.withHashSlot(ctx, func() error {
		var err error
		ok, err = staff.VerifyPassword(phc, password)
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("node: login %s: %w", username, err)
	}
	fail := func(why string) error {
		du, di := a.users.Fail(username, now), a.ips.Fail(clientIP, now)
		n.log.Warn("login failed", "username", logName(username), "client", clientIP, "why", why, "locked_for", max(du, di))
		return health.Errorf(health.Unauthorized, "invalid_credentials", "", "the username, password or one-time code is wrong")
	}
	if st == nil || !ok || len(password) > 4*staff.MaxPasswordLen {
		return "", time.Time{}, fail("password")
	}
	a.mu.Lock()
	if st.totp != nil {
		secret, err := a.secrets.Open(st.totp, totpAAD(username))
		if err != nil {
			a.mu.Unlock()
			return "", time.Time{}, fmt.Errorf("node: login %s: %w", username, err)
		}
		step, ok := staff.CheckTOTP(string(secret), otp, now, st.totpLast)
		if !ok {
			a.mu.Unlock()
			return "", time.Time{}, fail("otp")
		}
		st.totpLast = step
	}
	active := st.acct.Status == staff.Active
	a.mu.Unlock()
	if !active {
		return "", time.Time{}, health.Errorf(health.Permission, "account_suspended", "", "account %s is suspended", username)
	}
	a.users.Reset(username)
	token, expires, err = a.sessions.Create(username, now)
	if err != nil {
		return "", time.Time{}, err
	}
	n.log.Info("login", "username", username, "client", clientIP)
	return token, expires, nil
}

// dummyHash returns a hash made with the configured parameters (once).
func (a *accounts) dummyHash() string {
	a.dummyOnce.Do(func() {
		a.dummy, _ = staff.HashPassword("not a password of anyone", a.cfg.Password)
	})
	return a.dummy
}

// logName returns a username for the log, or a placeholder for a string
// that cannot be one (a password typed into the wrong field).
func logName(s string) string {
	if staff.CheckUsername(s) != nil {
		return "(not a username)"
	}
	return s
}

// Authenticate returns the principal of a session token ("hcs_…") or an
// API key ("hck_…"); ok is false for anything else, an ended or expired
// session, a revoked key, or a suspended account. It is called on every
// request: a hash and two map lookups under read locks.
func (n *Node) Authenticate(token string) (p staff.Principal, ok bool) {
	a := n.acc
	if strings.HasPrefix(token, staff.SessionPrefix) {
		user, ok := a.sessions.Lookup(token, n.now())
		if !ok {
			return p, false
		}
		a.mu.RLock()
		defer a.mu.RUnlock()
		st := a.byName[user]
		if st == nil || st.acct.Status != staff.Active {
			return p, false
		}
		return st.acct.Principal(), true
	}
	keyID, secret, ok := staff.ParseAPIKey(token)
	if !ok {
		return p, false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	k := a.keys[keyID]
	if k == nil || !k.key.Revoked.IsZero() || !a.secrets.CheckAPIKey(keyID, secret, k.hash) {
		return p, false
	}
	st := a.byName[k.key.Username]
	if st == nil || st.acct.Status != staff.Active {
		return p, false
	}
	p = st.acct.Principal()
	p.KeyID = keyID
	return p, true
}

// Logout ends the session of token. It reports whether there was one.
func (n *Node) Logout(token string) bool { return n.acc.sessions.End(token) }

// Account returns one account. It returns NotFound for an unknown username.
func (n *Node) Account(username string) (staff.Account, error) {
	acct, ok := n.acc.get(username)
	if !ok {
		return acct, health.Errorf(health.NotFound, "unknown_account", "username", "no account %s", username)
	}
	return acct, nil
}

// Accounts returns every account, by username.
func (n *Node) Accounts() []staff.Account {
	a := n.acc
	a.mu.RLock()
	out := make([]staff.Account, 0, len(a.byName))
	for _, st := range a.byName {
		out = append(out, st.acct)
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y staff.Account) int { return strings.Compare(x.Username, y.Username) })
	return out
}

// APIKeys returns the API keys of an account (every key if username is
// ""), revoked ones included, oldest first.
func (n *Node) APIKeys(username string) []staff.APIKey {
	a := n.acc
	a.mu.RLock()
	var out []staff.APIKey
	for _, k := range a.keys {
		if username == "" || k.key.Username == username {
			out = append(out, k.key)
		}
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y staff.APIKey) int { return cmp.Compare(x.Seq, y.Seq) })
	return out
}

// SetPassword replaces an account's password (api: a reset by an operator,
// or a change by the account itself; the caller authorises). Every session
// of the account ends. It returns NotFound for an unknown account and
// Invalid for a weak password.
func (n *Node) SetPassword(ctx context.Context, actor, username, password string) error {
	if _, err := n.Account(username); err != nil {
		return err
	}
	if err := staff.CheckPassword(username, password); err != nil {
		return err
	}
	phc, err := n.acc.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	return n.accountEvent(ctx, actor, health.EvPasswordChanged, accountData{Username: username, Password: phc}, nil)
}

// SuspendAccount suspends an account: its sessions end and its API keys
// stop working until it is reinstated. A reason is required. It returns
// NotFound for an unknown account, Invalid for a missing or overlong
// reason, and Conflict if the account is suspended already.
func (n *Node) SuspendAccount(ctx context.Context, actor, username, reason string) error {
	return n.accountEvent(ctx, actor, health.EvAccountSuspended, accountData{Username: username, Reason: reason}, func(acct staff.Account) error {
		if acct.Status == staff.Suspended {
			return health.Errorf(health.Conflict, "already_suspended", "username", "account %s is suspended already", username)
		}
		return nil
	})
}

// ReinstateAccount reinstates a suspended account. A reason is required.
// It returns NotFound for an unknown account, Invalid for a missing reason
// and Conflict if the account is active.
func (n *Node) ReinstateAccount(ctx context.Context, actor, username, reason string) error {
	return n.accountEvent(ctx, actor, health.EvAccountReinstated, accountData{Username: username, Reason: reason}, func(acct staff.Account) error {
		if acct.Status == staff.Active {
			return health.Errorf(health.Conflict, "not_suspended", "username", "account %s is not suspended", username)
		}
		return nil
	})
}

// accountEvent records one event about an existing account after check.
func (n *Node) accountEvent(ctx context.Context, actor string, kind health.EventKind, d accountData, check func(staff.Account) error) error {
	if kind == health.EvAccountSuspended || kind == health.EvAccountReinstated {
		if err := checkText("reason", d.Reason, 500, true); err != nil {
			return err
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return n.submitSolo(ctx, func(g *group) error {
		acct, err := n.Account(d.Username)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(acct); err != nil {
				return err
			}
		}
		g.add(health.Event{Kind: kind, At: g.now, Region: accountRegion(acct.Region), Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
}

// MaxAPIKeys is how many API keys in force one account may have.
const MaxAPIKeys = 10

// IssueAPIKey issues an API key acting as account username, for a machine
// client (a lab's system, a gate device). The token ("hck_<id>_<secret>")
// is returned once; only a keyed hash of its secret is kept. Accounts whose
// roles need a second factor get no keys (a key would bypass it). It
// returns NotFound for an unknown account, Invalid for a bad label,
// Unprocessable for a suspended account or one with such a role, and
// Conflict when the account has MaxAPIKeys keys in force.
func (n *Node) IssueAPIKey(ctx context.Context, actor, username, label string) (token string, key staff.APIKey, err error) {
	if err := checkText("label", label, staff.MaxLabelLen, false); err != nil {
		return "", key, err
	}
	keyID, secret, token, err := staff.NewAPIKey()
	if err != nil {
		return "", key, err
	}
	h := n.acc.secrets.HashAPIKey(keyID, secret)
	data, err := json.Marshal(apiKeyData{KeyID: keyID, Username: username, Hash: hex.EncodeToString(h[:]), Label: label})
	if err != nil {
		return "", key, err
	}
	err = n.submitSolo(ctx, func(g *group) error {
		acct, err := n.Account(username)
		if err != nil {
			return err
		}
		switch {
		case acct.Status != staff.Active:
			return health.Errorf(health.Unprocessable, "account_suspended", "username", "account %s is suspended", username)
		case acct.Roles.NeedsTOTP():
			return health.Errorf(health.Unprocessable, "second_factor_role", "username",
				"account %s has a role that needs a second factor (%s); API keys are for machine clients", username, acct.Roles)
		}
		inForce := 0
		for _, k := range n.APIKeys(username) {
			if k.Revoked.IsZero() {
				inForce++
			}
		}
		if inForce >= MaxAPIKeys {
			return health.Errorf(health.Conflict, "too_many_keys", "username", "account %s has %d API keys in force; revoke one first", username, inForce)
		}
		n.acc.mu.RLock()
		_, dup := n.acc.keys[keyID]
		n.acc.mu.RUnlock()
		if dup {
			return health.Errorf(health.Conflict, "key_id_taken", "", "key id collision; try again")
		}
		g.add(health.Event{Kind: health.EvAPIKeyIssued, At: g.now, Region: accountRegion(acct.Region), Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
	if err != nil {
		return "", key, err
	}
	n.acc.mu.RLock()
	key = n.acc.keys[keyID].key
	n.acc.mu.RUnlock()
	return token, key, nil
}

// RevokeAPIKey revokes an API key; it stops working at once. It returns
// NotFound for an unknown key id, Invalid for an overlong reason, and
// Conflict for a key revoked already.
func (n *Node) RevokeAPIKey(ctx context.Context, actor, keyID, reason string) error {
	if err := checkText("reason", reason, 500, false); err != nil {
		return err
	}
	return n.submitSolo(ctx, func(g *group) error {
		n.acc.mu.RLock()
		k := n.acc.keys[keyID]
		var key staff.APIKey
		if k != nil {
			key = k.key
		}
		n.acc.mu.RUnlock()
		switch {
		case k == nil:
			return health.Errorf(health.NotFound, "unknown_api_key", "key_id", "no API key %s", keyID)
		case !key.Revoked.IsZero():
			return health.Errorf(health.Conflict, "already_revoked", "key_id", "API key %s is revoked already", keyID)
		}
		acct, _ := n.acc.get(key.Username)
		data, err := json.Marshal(apiKeyData{KeyID: keyID, Username: key.Username, Reason: reason})
		if err != nil {
			return err
		}
		g.add(health.Event{Kind: health.EvAPIKeyRevoked, At: g.now, Region: accountRegion(acct.Region), Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
}

// checkText checks a free-text field: at most max bytes, no control
// characters, and present if required.
func checkText(field, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return health.Errorf(health.Invalid, "missing_field", field, "is required")
	case len(s) > max:
		return health.Errorf(health.Invalid, "too_long", field, "must be at most %d bytes", max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return health.Errorf(health.Invalid, "invalid_text", field, "must not contain control characters")
	}
	return nil
}

// PersonRegion returns the home region of person p: the object region to
// authorise a staff action on the person with (staff.Allowed). It returns
// NotFound for an unknown person.
func (n *Node) PersonRegion(p uint32) (string, error) {
	if r := n.homeRegion(p); r != "" {
		return r, nil
	}
	return "", health.Errorf(health.NotFound, "unknown_person", "id", "no person %s", health.PersonID(p))
}
