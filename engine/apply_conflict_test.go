package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

// Alice is purged (hard-deleted); a user made since holds her mail. With
// --without-removals the recreate fails, and its sentence says a mail address is held,
// not that her userPrincipalName is.
func TestRecreateMailConflictNamesTheAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRecovery(t, 40, 48)
	ids, mails := mailUsers(t, r, 1)
	alice, mail := ids[0], mails[0]
	r.attack(t, "DELETE", "/users/"+alice)
	r.attack(t, "DELETE", "/directory/deletedItems/"+alice)
	body := map[string]any{"accountEnabled": true, "displayName": "Made by hand", "mailNickname": "byhand", "userPrincipalName": "byhand@" + strings.SplitN(mail, "@", 2)[1],
		"mail": mail, "passwordProfile": map[string]any{"password": "xWwvJ]6NMw+bWH-d", "forceChangePasswordNextSignIn": true}}
	if _, err := r.op.Do(ctx, graphapi.Request{Method: "POST", Path: "/users", Body: mustJSON(body)}); err != nil {
		t.Fatal(err)
	}
	kept := r.planTo(t, r.target, PlanOptions{WithoutRemovals: true})
	rep, err := Apply(ctx, kept, r.options(nil))
	if err != nil || rep.Failed == 0 {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	for _, f := range rep.Failures {
		if strings.Contains(f.Reason, alice) && !strings.Contains(f.Reason, "proxyAddresses") {
			t.Errorf("recreating the purged user whose mail is taken: %s", f.Reason)
		}
	}
}
