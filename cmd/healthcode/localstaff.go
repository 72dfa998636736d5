package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"healthcode/internal/node"
	"healthcode/internal/sim"
	"healthcode/internal/staff"
)

// localStaff is the staff access the demo and the benchmarks give
// themselves on a node they started: a national account and, for the
// simulator's labs, one lab account each with an API key.
type localStaff struct {
	Username, Password, TOTPSecret string
	Token                          string            // a session (with an official) or an API key
	LabTokens                      map[string]string // lab id → API key
}

// provisionStaff creates the accounts on n through its normal write path
// (account events, audited like any other). With official the account also
// has the official role, needs a second factor, and signs in with a code
// computed from its secret at the node's time; without, it gets an API key.
func provisionStaff(ctx context.Context, n *node.Node, username string, official bool) (localStaff, error) {
	const actor = "system:local"
	ls := localStaff{Username: username, Password: randomSecret(), LabTokens: map[string]string{}}
	roles := staff.RolesOf(staff.Investigator, staff.Community, staff.Verifier)
	if official {
		roles |= staff.RolesOf(staff.Official)
	}
	_, url, err := n.AddAccount(ctx, actor, node.AccountInput{Username: username, Roles: roles, Region: staff.NationalRegion, Password: ls.Password})
	if err != nil {
		return ls, fmt.Errorf("staff account %s: %w", username, err)
	}
	if official {
		if ls.TOTPSecret, err = staff.TOTPSecretOf(url); err != nil {
			return ls, err
		}
		code, err := staff.TOTPCode(ls.TOTPSecret, n.Now())
		if err != nil {
			return ls, err
		}
		if ls.Token, _, err = n.Login(ctx, username, ls.Password, code, "127.0.0.1"); err != nil {
			return ls, fmt.Errorf("sign in as %s: %w", username, err)
		}
	} else if ls.Token, _, err = n.IssueAPIKey(ctx, actor, username, "local tools"); err != nil {
		return ls, fmt.Errorf("API key for %s: %w", username, err)
	}
	for _, lab := range sim.Labs {
		if _, _, err := n.AddAccount(ctx, actor, node.AccountInput{Username: lab, Roles: staff.RolesOf(staff.Lab),
			Region: staff.NationalRegion, Password: randomSecret()}); err != nil {
			return ls, fmt.Errorf("lab account %s: %w", lab, err)
		}
		if ls.LabTokens[lab], _, err = n.IssueAPIKey(ctx, actor, lab, "local tools"); err != nil {
			return ls, fmt.Errorf("API key for %s: %w", lab, err)
		}
	}
	return ls, nil
}

// provisionApprover creates a second national official (no session): the
// four-eyes rule needs one to approve the first one's overrides. It returns
// the password and the TOTP secret.
func provisionApprover(ctx context.Context, n *node.Node, username string) (password, secret string, err error) {
	password = randomSecret()
	_, url, err := n.AddAccount(ctx, "system:local", node.AccountInput{Username: username, Roles: staff.RolesOf(staff.Official),
		Region: staff.NationalRegion, Password: password})
	if err != nil {
		return "", "", fmt.Errorf("staff account %s: %w", username, err)
	}
	secret, err = staff.TOTPSecretOf(url)
	return password, secret, err
}

// randomSecret returns a random password (24 base64url characters).
func randomSecret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
