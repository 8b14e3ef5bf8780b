package sim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// newGUID returns a random version-4 GUID, as the directory assigns object ids.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newOpaqueID returns an id of the opaque form Graph gives app role assignments, grants
// and role assignments (base64url, not a GUID).
func newOpaqueID(suffix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + suffix
}

// securityIdentifier derives the SID Entra gives cloud objects from their object id.
func securityIdentifier(id string) string {
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(raw) != 16 {
		return ""
	}
	parts := make([]string, 4)
	for i := range parts {
		parts[i] = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(raw[i*4:])), 10)
	}
	return "S-1-12-1-" + strings.Join(parts, "-")
}

// decodeRaw turns a validated raw value into a plain value for canonical encoding.
func decodeRaw(raw json.RawMessage) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&v)
	return v
}

// emptyObject returns every readable property of a kind with Graph's empty value:
// [] for collections, null otherwise.
func emptyObject(k entra.Kind) map[string]any {
	m := map[string]any{}
	types := propertyTypes[k]
	for _, name := range readableProperties(k) {
		switch types[name] {
		case tStrings, tArray:
			m[name] = []any{}
		default:
			m[name] = nil
		}
	}
	return m
}

// overlay copies a write body's properties into m, except write-only ones.
func overlay(k entra.Kind, m map[string]any, props map[string]json.RawMessage) {
	wo := writeOnlyProperties(k)
	for name, raw := range props {
		if wo[name] {
			continue
		}
		v := decodeRaw(raw)
		if v == nil {
			if t := propertyTypes[k][name]; t == tStrings || t == tArray {
				v = []any{}
			}
		}
		m[name] = v
	}
}

// newApplicationDefaults is an application as the directory creates it.
func newApplicationDefaults(id, appID, displayName, domain, created string, set map[string]any) map[string]any {
	m := emptyObject(entra.KindApplication)
	m["id"] = id
	m["appId"] = appID
	m["displayName"] = displayName
	m["createdDateTime"] = created
	m["publisherDomain"] = domain
	m["signInAudience"] = "AzureADMyOrg"
	m["isFallbackPublicClient"] = false
	m["api"] = map[string]any{"acceptMappedClaims": nil, "knownClientApplications": []any{}, "oauth2PermissionScopes": []any{}, "preAuthorizedApplications": []any{}, "requestedAccessTokenVersion": nil}
	m["web"] = map[string]any{"homePageUrl": nil, "logoutUrl": nil, "redirectUris": []any{}, "implicitGrantSettings": map[string]any{"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}}
	m["spa"] = map[string]any{"redirectUris": []any{}}
	m["publicClient"] = map[string]any{"redirectUris": []any{}}
	for k, v := range set {
		m[k] = v
	}
	return m
}

// microsoftTenantID owns Microsoft's first-party applications.
const microsoftTenantID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

// newServicePrincipalDefaults is a service principal as the directory creates it for an
// application (app may be nil for an application of another tenant).
func newServicePrincipalDefaults(id string, app *object, appID, displayName, tenantID string) map[string]any {
	m := emptyObject(entra.KindServicePrincipal)
	m["id"] = id
	m["appId"] = appID
	m["accountEnabled"] = true
	m["appRoleAssignmentRequired"] = false
	m["servicePrincipalType"] = "Application"
	m["appOwnerOrganizationId"] = tenantID
	m["displayName"] = displayName
	m["appDisplayName"] = displayName
	m["servicePrincipalNames"] = []any{appID}
	if app != nil {
		am, _ := decodeObject(app.data)
		m["appDisplayName"] = am["displayName"]
		if displayName == "" {
			m["displayName"] = am["displayName"]
		}
		if roles, ok := am["appRoles"]; ok && roles != nil {
			m["appRoles"] = roles
		}
		if api, ok := am["api"].(map[string]any); ok && api["oauth2PermissionScopes"] != nil {
			m["oauth2PermissionScopes"] = api["oauth2PermissionScopes"]
		}
		if aud, ok := am["signInAudience"]; ok {
			m["signInAudience"] = aud
		}
		names := []any{appID}
		if uris, ok := am["identifierUris"].([]any); ok {
			names = append(names, uris...)
		}
		m["servicePrincipalNames"] = names
	}
	return m
}

// verifiedDomains returns the tenant's verified domain names.
func (st *store) verifiedDomains() []string {
	out := []string{st.domain}
	if org := st.get(entra.KindOrganization, st.tenantID); org != nil {
		var doms []struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(getMember(org.data, "verifiedDomains"), &doms)
		for _, d := range doms {
			if d.Name != "" && !containsFold(out, d.Name) {
				out = append(out, d.Name)
			}
		}
	}
	return out
}

// checkUPN refuses a userPrincipalName Graph would refuse.
func (st *store) checkUPN(upn string) *apiError {
	local, domain, ok := strings.Cut(upn, "@")
	if !ok || local == "" || strings.ContainsAny(local, " @\"(),:;<>[]\\") || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") {
		return badRequest("Property userPrincipalName is invalid.")
	}
	if !containsFold(st.verifiedDomains(), domain) {
		return badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
	}
	return nil
}

// checkMailNickname refuses characters Graph does not allow in a mailNickname.
func checkMailNickname(nick string) *apiError {
	if nick == "" || len(nick) > 64 || strings.ContainsAny(nick, "@()\\[]\";:<>, ") {
		return badRequest("Invalid value specified for property 'mailNickname' of resource '%s'.", "microsoft.graph.group")
	}
	for _, r := range nick {
		if r > 127 {
			return badRequest("Invalid value specified for property 'mailNickname' of resource '%s'.", "microsoft.graph.group")
		}
	}
	return nil
}

// checkUnique refuses values another live object holds in a unique property (and, for
// uniqueName, values a soft-deleted application still reserves). self is the id of the
// object being written, which may keep its own values.
func (st *store) checkUnique(k entra.Kind, data []byte, self string) *apiError {
	o := &object{kind: k, id: self, data: data}
	vals := uniqueValues(o)
	for _, prop := range sortedKeys(vals) {
		for _, v := range vals[prop] {
			if holder := st.holderOf(k, prop, v); holder != "" && holder != self {
				return conflictUnique(prop)
			}
			if k == entra.KindApplication && prop == "uniqueName" {
				for _, id := range st.bin[k].Slice() {
					if id != self && strings.EqualFold(getString(st.objs[id].data, "uniqueName"), v) {
						return conflictUnique(prop)
					}
				}
			}
		}
	}
	return nil
}

// buildNew turns a validated create body into a new object of kind k, filling what the
// service generates. It checks the kind's rules but not uniqueness or links.
func (st *store) buildNew(k entra.Kind, wb *writeBody, now time.Time) (*object, *apiError) {
	created := formatSeconds(now)
	m := emptyObject(k)
	overlay(k, m, wb.props)
	str := func(name string) string { s, _ := m[name].(string); return s }
	id := newGUID()
	switch k {
	case entra.KindUser:
		var pp struct {
			Password *string `json:"password"`
		}
		if json.Unmarshal(wb.props["passwordProfile"], &pp) != nil || pp.Password == nil || *pp.Password == "" {
			return nil, badRequest("A value is required for property 'password' of resource 'passwordProfile'.")
		}
		if err := st.checkUPN(str("userPrincipalName")); err != nil {
			return nil, err
		}
		if str("displayName") == "" {
			return nil, badRequest("Invalid value specified for property 'displayName' of resource 'User'.")
		}
		if m["userType"] == nil {
			m["userType"] = "Member"
		}
		m["createdDateTime"] = created
		m["lastPasswordChangeDateTime"] = created
		m["signInSessionsValidFromDateTime"] = created
		m["securityIdentifier"] = securityIdentifier(id)
		if mail := str("mail"); mail != "" {
			m["proxyAddresses"] = []any{"SMTP:" + mail}
		}
	case entra.KindGroup:
		if err := checkMailNickname(str("mailNickname")); err != nil {
			return nil, err
		}
		unified := false
		for _, t := range asStrings(m["groupTypes"]) {
			switch {
			case strings.EqualFold(t, "Unified"):
				unified = true
			case strings.EqualFold(t, "DynamicMembership"):
			default:
				return nil, badRequest("Invalid value specified for property 'groupTypes' of resource 'Group'.")
			}
		}
		mailEnabled, _ := m["mailEnabled"].(bool)
		securityEnabled, _ := m["securityEnabled"].(bool)
		if mailEnabled && !unified {
			return nil, badRequest("Cannot Create a mail-enabled security groups and or distribution list.")
		}
		if unified && !mailEnabled {
			return nil, badRequest("A Microsoft 365 group must be mail-enabled.")
		}
		if !unified && !securityEnabled {
			return nil, badRequest("A group that is not a Microsoft 365 group must be security-enabled.")
		}
		if b, _ := m["isAssignableToRole"].(bool); b && !securityEnabled {
			return nil, badRequest("A role-assignable group must be security-enabled.")
		}
		if m["isAssignableToRole"] == nil {
			m["isAssignableToRole"] = nil
		}
		if unified {
			mail := str("mailNickname") + "@" + st.domain
			m["mail"] = mail
			m["proxyAddresses"] = []any{"SMTP:" + mail}
			if m["visibility"] == nil {
				m["visibility"] = "Public"
			}
		}
		m["createdDateTime"] = created
		m["renewedDateTime"] = created
		m["securityIdentifier"] = securityIdentifier(id)
	case entra.KindApplication:
		base := newApplicationDefaults(id, newGUID(), str("displayName"), st.domain, created, nil)
		for name, v := range m {
			if _, given := wb.props[name]; given {
				base[name] = v
			}
		}
		m = base
	case entra.KindServicePrincipal:
		appID := str("appId")
		app := st.appByAppID(appID)
		if app == nil && !st.foreignApps[strings.ToLower(appID)] {
			return nil, badRequest("The appId '%s' of the service principal does not reference a valid application object.", appID)
		}
		owner := st.tenantID
		if app == nil {
			owner = microsoftTenantID
		}
		base := newServicePrincipalDefaults(id, app, appID, "", owner)
		if app == nil {
			base["displayName"] = appID
			base["appDisplayName"] = appID
			if tmpl := st.foreignTemplate(appID); tmpl != nil {
				for _, name := range []string{"appDisplayName", "displayName", "appRoles", "oauth2PermissionScopes", "servicePrincipalNames", "signInAudience", "appOwnerOrganizationId"} {
					base[name] = tmpl[name]
				}
			}
		}
		for name, v := range m {
			if _, given := wb.props[name]; given {
				base[name] = v
			}
		}
		m = base
	case entra.KindNamedLocation:
		if err := checkNamedLocation(wb, ""); err != nil {
			return nil, err
		}
		m = namedLocationShape(wb.odataType, m)
		m["createdDateTime"] = created
		m["modifiedDateTime"] = created
	case entra.KindConditionalAccessPolicy:
		if err := checkPolicy(m); err != nil {
			return nil, err
		}
		m["createdDateTime"] = created
	case entra.KindAdministrativeUnit:
		if m["isMemberManagementRestricted"] == nil {
			m["isMemberManagementRestricted"] = false
		}
	case entra.KindRoleDefinition:
		m["isBuiltIn"] = false
		if str("templateId") == "" {
			m["templateId"] = id
		}
		if len(asStrings(m["resourceScopes"])) == 0 {
			m["resourceScopes"] = []any{"/"}
		}
	case entra.KindAuthenticationMethodsPolicy, entra.KindOrganization:
		return nil, methodNotAllowed()
	}
	m["id"] = id
	if k == entra.KindNamedLocation {
		m["@odata.type"] = wb.odataType
	}
	data := mustJSON(m)
	return &object{kind: k, id: id, data: data}, nil
}

// foreignTemplate returns the first-party service principal a dataset carried for an
// appId of another tenant, so a recreated one looks like Microsoft's.
func (st *store) foreignTemplate(appID string) map[string]any {
	for _, id := range st.bin[entra.KindServicePrincipal].Slice() {
		if o := st.objs[id]; strings.EqualFold(getString(o.data, "appId"), appID) {
			m, _ := decodeObject(o.data)
			return m
		}
	}
	if t := st.foreignSPs[strings.ToLower(appID)]; t != nil {
		m, _ := decodeObject(t)
		return m
	}
	return nil
}

// checkNamedLocation checks a named location's @odata.type and that its properties
// belong to that type. current is the stored type on PATCH ("" on create).
func checkNamedLocation(wb *writeBody, current string) *apiError {
	switch wb.odataType {
	case entra.IPNamedLocationType, entra.CountryNamedLocationType:
	case "":
		return badRequest("The @odata.type property is required: specify '%s' or '%s'.", entra.IPNamedLocationType, entra.CountryNamedLocationType)
	default:
		return badRequest("Invalid @odata.type '%s' for a named location.", wb.odataType)
	}
	if current != "" && wb.odataType != current {
		return badRequest("The @odata.type '%s' does not match the named location's type '%s'.", wb.odataType, current)
	}
	ipOnly := []string{"ipRanges", "isTrusted"}
	countryOnly := []string{"countriesAndRegions", "countryLookupMethod", "includeUnknownCountriesAndRegions"}
	wrong := countryOnly
	if wb.odataType == entra.CountryNamedLocationType {
		wrong = ipOnly
	}
	for _, name := range wrong {
		if _, ok := wb.props[name]; ok {
			return badRequest("Property '%s' does not exist on type '%s'.", name, strings.TrimPrefix(wb.odataType, "#"))
		}
	}
	if wb.odataType == entra.IPNamedLocationType {
		if raw, ok := wb.props["ipRanges"]; ok {
			var ranges []map[string]any
			if json.Unmarshal(raw, &ranges) != nil {
				return badRequest("Invalid value specified for property 'ipRanges'.")
			}
			for _, r := range ranges {
				if s, _ := r["cidrAddress"].(string); !strings.Contains(s, "/") {
					return badRequest("Invalid IP range '%v': specify a CIDR address.", r["cidrAddress"])
				}
			}
		}
	}
	return nil
}

// namedLocationShape keeps only the members of the named location's concrete type.
func namedLocationShape(odataType string, m map[string]any) map[string]any {
	drop := []string{"countriesAndRegions", "countryLookupMethod", "includeUnknownCountriesAndRegions"}
	if odataType == entra.CountryNamedLocationType {
		drop = []string{"ipRanges", "isTrusted"}
		if m["countryLookupMethod"] == nil {
			m["countryLookupMethod"] = "clientIpAddress"
		}
		if m["includeUnknownCountriesAndRegions"] == nil {
			m["includeUnknownCountriesAndRegions"] = false
		}
	} else if m["isTrusted"] == nil {
		m["isTrusted"] = false
	}
	for _, name := range drop {
		delete(m, name)
	}
	return m
}

// checkPolicy enforces what Graph requires of a Conditional Access policy: an
// applications condition, a users or client applications condition, and a grant or
// session control.
func checkPolicy(m map[string]any) *apiError {
	cond, _ := m["conditions"].(map[string]any)
	if cond == nil {
		return badRequest("A value is required for property 'conditions' of resource 'conditionalAccessPolicy'.")
	}
	if cond["applications"] == nil {
		return badRequest("The policy is invalid: conditions.applications is required.")
	}
	if cond["users"] == nil && cond["clientApplications"] == nil {
		return badRequest("The policy is invalid: conditions.users or conditions.clientApplications is required.")
	}
	if m["grantControls"] == nil && m["sessionControls"] == nil {
		return badRequest("The policy is invalid: a grant control or a session control is required.")
	}
	return nil
}

func asStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
