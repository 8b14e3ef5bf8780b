// Package sim is lifeline's simulated Entra ID tenant: an HTTP server that speaks
// Microsoft Graph's REST protocol (v1.0 and beta) over a directory generated from a seed,
// with an OAuth token endpoint of the authority's own shape, soft delete and the recycle
// bins, delta, the directory audit log, $batch and Graph's throttling budgets.
//
// It is a product feature (drills, demos, training), not a test double: lifeline's own
// Graph client reaches it exactly as it reaches Microsoft Graph, and its answers follow
// docs/graph-spec.md. Incidents are injected through the same Graph API an attacker
// would use, so the audit log tells the story.
//
// The package imports entra and the standard library only, never lifeline's Graph client: the
// sim is tested through the real client, from outside.
package sim

import (
	"encoding/json"

	"github.com/lifelinehq/lifeline/entra"
)

// Dataset is a whole directory as plain data: what Generate produces, what a sim loads
// at start, and what --state persists.
type Dataset struct {
	// TenantID is the directory's tenant id (a GUID).
	TenantID string `json:"tenant_id"`
	// Domain is the tenant's initial verified domain ("contoso-7.onmicrosoft.com");
	// every generated userPrincipalName ends in "@" + Domain.
	Domain string `json:"domain"`
	// DisplayName is the organization's name.
	DisplayName string `json:"display_name"`
	// Objects are every directory object, live ones only, in a deterministic order.
	Objects []Object `json:"objects"`
	// Links are the relationships kept apart from objects (members, owners, manager).
	Links []Link `json:"links"`
	// BreakGlass are the object ids of the emergency-access accounts that every
	// Conditional Access policy excludes.
	BreakGlass []string `json:"break_glass"`
	// Admins are the object ids of users holding the Global Administrator role.
	Admins []string `json:"admins"`
}

// Object is one directory object.
type Object struct {
	// Kind is the object's kind.
	Kind entra.Kind `json:"kind"`
	// ID is its object id (opaque strings for role assignments, app role assignments and
	// grants; GUIDs otherwise; "authenticationMethodsPolicy" for the singleton).
	ID string `json:"id"`
	// JSON holds the object as Graph returns it with every property selected, including
	// "id" and, for polymorphic kinds, "@odata.type". Read-only properties are filled
	// in as Graph would (createdDateTime, appId, ...). Write-only properties never are.
	JSON json.RawMessage `json:"json"`
}

// Link is one relationship: From's navigation property Name contains To.
type Link struct {
	// FromKind is the kind of the object holding the link (group, application, ...).
	FromKind entra.Kind `json:"from_kind"`
	// From is the holder's object id.
	From string `json:"from"`
	// Name is the navigation property: one of entra's LinkSpec names for FromKind.
	Name string `json:"name"`
	// ToKind is the kind of the linked object.
	ToKind entra.Kind `json:"to_kind"`
	// To is the linked object's id.
	To string `json:"to"`
}
