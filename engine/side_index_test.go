package engine

import (
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/graphx"
)

// An objectIndex finds each object by kind and id, GUIDs or not, and nothing else: the
// same GUID under two kinds is two objects, a GUID in upper case is another id than in
// lower case, and a kind the side has no object of has none.
func TestObjectIndex(t *testing.T) {
	t.Parallel()
	const guid = "c3c65c8d-a1bc-4bc4-80d5-8c270ebca656"
	objects := []graphx.NodeID{
		{Kind: entra.KindUser, ID: guid},
		{Kind: entra.KindGroup, ID: guid},
		{Kind: entra.KindUser, ID: "C3C65C8D-A1BC-4BC4-80D5-8C270EBCA656"},
		{Kind: entra.KindOAuth2PermissionGrant, ID: "Xy1Zz-opaque_grant-id"},
		{Kind: entra.KindAuthenticationMethodsPolicy, ID: "authenticationMethodsPolicy"},
		{Kind: entra.KindUser, ID: "00000000-0000-0000-0000-000000000000"},
	}
	x := newObjectIndex(len(objects))
	for i, n := range objects {
		x.add(n, int32(i))
	}
	for i, n := range objects {
		if got, ok := x.get(n); !ok || got != int32(i) {
			t.Errorf("get(%v) = %d, %v; want %d", n, got, ok, i)
		}
	}
	for _, n := range []graphx.NodeID{
		{Kind: entra.KindApplication, ID: guid},
		{Kind: entra.KindUser, ID: "c3c65c8d-a1bc-4bc4-80d5-8c270ebca657"},
		{Kind: entra.KindGroup, ID: "C3C65C8D-A1BC-4BC4-80D5-8C270EBCA656"},
		{Kind: entra.KindOAuth2PermissionGrant, ID: "xy1Zz-opaque_grant-id"},
		{Kind: entra.KindUser, ID: ""},
	} {
		if got, ok := x.get(n); ok {
			t.Errorf("get(%v) = %d, found; want not found", n, got)
		}
	}
}
