package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// loadDataset builds a store from a dataset. Objects whose JSON is already canonical
// keep the dataset's bytes, so the pristine copy and the live directory share them.
func loadDataset(ds *Dataset, now time.Time) (*store, error) {
	if ds == nil {
		return nil, fmt.Errorf("sim: no dataset to load")
	}
	if ds.TenantID == "" || ds.Domain == "" {
		return nil, fmt.Errorf("sim: the dataset has no tenant id or domain")
	}
	st := newStore(ds.TenantID, ds.Domain, ds.DisplayName)
	loaded := make([]*object, 0, len(ds.Objects))
	for i := range ds.Objects {
		o, err := objectFromDataset(&ds.Objects[i])
		if err != nil {
			return nil, err
		}
		if st.objs[o.id] != nil {
			return nil, fmt.Errorf("sim: dataset object %s %s appears twice", o.kind, o.id)
		}
		st.setObj(o.id, o)
		loaded = append(loaded, o)
	}
	prepareMetas(loaded)
	st.finishLoad()
	for _, l := range ds.Links {
		spec, ok := entra.Lookup(l.FromKind)
		if !ok {
			return nil, fmt.Errorf("sim: dataset link from unknown kind %q", l.FromKind)
		}
		if _, ok := spec.Link(l.Name); !ok {
			return nil, fmt.Errorf("sim: dataset link %q is not a link of %s", l.Name, l.FromKind)
		}
		if st.get(l.FromKind, l.From) == nil || st.getAny(l.To) == nil {
			return nil, fmt.Errorf("sim: dataset link %s %s/%s -> %s names an object the dataset lacks", l.FromKind, l.From, l.Name, l.To)
		}
		st.addLink(l.From, l.Name, l.To)
	}
	st.ensureBuiltins(now)
	return st, nil
}

// finishLoad builds the ordered sets and indexes of objects put straight into objs: one
// sort per kind rather than a million inserts.
func (st *store) finishLoad() {
	live := map[entra.Kind][]string{}
	binned := map[entra.Kind][]string{}
	for id, o := range st.objs {
		if o.live() {
			live[o.kind] = append(live[o.kind], id)
		} else {
			binned[o.kind] = append(binned[o.kind], id)
			st.expireAt(time.Unix(0, o.deleted).Add(binRetention))
		}
	}
	for k, list := range live {
		st.live[k] = newIDSet(list)
	}
	for k, list := range binned {
		st.bin[k] = newIDSet(list)
	}
	for _, o := range st.objs {
		st.index(o)
	}
	for _, o := range st.objs {
		if o.kind == entra.KindServicePrincipal {
			if appID := getString(o.data, "appId"); appID != "" && st.apps[strings.ToLower(appID)] == "" {
				st.foreignApps[strings.ToLower(appID)] = true
				st.foreignSPs[strings.ToLower(appID)] = o.data
			}
		}
	}
}

// objectFromDataset turns one dataset object into a stored object.
func objectFromDataset(d *Object) (*object, error) {
	if _, ok := entra.Lookup(d.Kind); !ok {
		return nil, fmt.Errorf("sim: dataset object %s has unknown kind %q", d.ID, d.Kind)
	}
	if d.ID == "" {
		return nil, fmt.Errorf("sim: dataset %s object without an id", d.Kind)
	}
	data := []byte(d.JSON)
	if !isCanonical(data) {
		c, err := canonicalJSON(data)
		if err != nil {
			return nil, fmt.Errorf("sim: dataset %s %s: %v", d.Kind, d.ID, err)
		}
		data = c
	}
	if data[0] != '{' {
		return nil, fmt.Errorf("sim: dataset %s %s is not a JSON object", d.Kind, d.ID)
	}
	if got := getString(data, "id"); got != d.ID {
		return nil, fmt.Errorf("sim: dataset %s %s carries id %q in its JSON", d.Kind, d.ID, got)
	}
	data = sanitize(d.Kind, data)
	return &object{kind: d.Kind, id: d.ID, data: data}, nil
}

// sanitize removes what Graph never returns: write-only members, "@odata.type" on
// kinds that are not polymorphic, secretText values.
func sanitize(k entra.Kind, data []byte) []byte {
	drop := map[string]any{}
	for name := range writeOnlyProperties(k) {
		if getMember(data, name) != nil {
			drop[name] = nil
		}
	}
	if k != entra.KindNamedLocation && getMember(data, "@odata.type") != nil {
		drop["@odata.type"] = nil
	}
	if k == entra.KindApplication || k == entra.KindServicePrincipal {
		if pc := getMember(data, "passwordCredentials"); bytes.Contains(pc, []byte(`"secretText":"`)) {
			var creds []map[string]any
			if json.Unmarshal(pc, &creds) == nil {
				for _, c := range creds {
					c["secretText"] = nil
				}
				drop["passwordCredentials"] = creds
			}
		}
	}
	if len(drop) == 0 {
		return data
	}
	return withMembers(data, drop)
}

// isCanonical reports whether data is compact JSON whose object keys are sorted at
// every level, so it can be stored as it is.
func isCanonical(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	i, ok := canonicalValue(data, 0)
	return ok && i == len(data)
}

func canonicalValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return i, false
	}
	switch data[i] {
	case '{':
		i++
		var prev []byte
		first := true
		for {
			if i >= len(data) {
				return i, false
			}
			if data[i] == '}' {
				return i + 1, true
			}
			if !first {
				if data[i] != ',' {
					return i, false
				}
				i++
			}
			first = false
			if i >= len(data) || data[i] != '"' {
				return i, false
			}
			end := skipString(data, i)
			key := data[i:end]
			if prev != nil && bytes.Compare(prev, key) >= 0 {
				return i, false
			}
			if bytes.IndexByte(key, '\\') >= 0 {
				return i, false // escaped keys compare differently once decoded
			}
			prev = key
			i = end
			if i >= len(data) || data[i] != ':' {
				return i, false
			}
			var ok bool
			if i, ok = canonicalValue(data, i+1); !ok {
				return i, false
			}
		}
	case '[':
		i++
		first := true
		for {
			if i >= len(data) {
				return i, false
			}
			if data[i] == ']' {
				return i + 1, true
			}
			if !first {
				if data[i] != ',' {
					return i, false
				}
				i++
			}
			first = false
			var ok bool
			if i, ok = canonicalValue(data, i); !ok {
				return i, false
			}
		}
	case '"':
		return skipString(data, i), true
	case ' ', '\n', '\t', '\r':
		return i, false
	default:
		end := skipValue(data, i)
		return end, end > i
	}
}

// Built-in objects every simulated tenant has, whatever the dataset holds: the
// organization, the authentication methods policy, the built-in directory roles, and the
// two applications whose credentials the token endpoint knows.

// builtinRoles are the built-in role definitions (template id, name) added when a
// dataset carries none.
var builtinRoles = [][2]string{
	{"62e90394-69f5-4237-9190-012177145e10", "Global Administrator"},
	{"e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"},
	{"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"},
	{"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"},
	{"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"},
	{"fdd7a751-b60b-444a-984c-02652fe8fa1c", "Groups Administrator"},
	{"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"},
	{"194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"},
	{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
	{"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"},
}

// authMethodConfigs are the configurations of a default authentication methods policy.
var authMethodConfigs = [][2]string{
	{"Fido2", "fido2AuthenticationMethodConfiguration"},
	{"MicrosoftAuthenticator", "microsoftAuthenticatorAuthenticationMethodConfiguration"},
	{"Sms", "smsAuthenticationMethodConfiguration"},
	{"Voice", "voiceAuthenticationMethodConfiguration"},
	{"TemporaryAccessPass", "temporaryAccessPassAuthenticationMethodConfiguration"},
	{"SoftwareOath", "softwareOathAuthenticationMethodConfiguration"},
	{"Email", "emailAuthenticationMethodConfiguration"},
	{"X509Certificate", "x509CertificateAuthenticationMethodConfiguration"},
}

func (st *store) ensureBuiltins(now time.Time) {
	created := formatSeconds(now)
	if st.live[entra.KindOrganization].Len() == 0 {
		st.put(&object{kind: entra.KindOrganization, id: st.tenantID, data: mustJSON(map[string]any{
			"id": st.tenantID, "city": nil, "countryLetterCode": "US", "createdDateTime": created,
			"displayName": orDefault(st.displayName, "Contoso"), "tenantType": "AAD",
			"verifiedDomains": []any{map[string]any{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": true, "name": st.domain, "type": "Managed"}},
		})})
	}
	if st.getAny("authenticationMethodsPolicy") == nil {
		var configs []any
		for _, c := range authMethodConfigs {
			configs = append(configs, map[string]any{
				"@odata.type":    "#microsoft.graph." + c[1],
				"id":             c[0],
				"state":          "disabled",
				"excludeTargets": []any{},
			})
		}
		st.put(&object{kind: entra.KindAuthenticationMethodsPolicy, id: "authenticationMethodsPolicy", data: mustJSON(map[string]any{
			"id": "authenticationMethodsPolicy", "authenticationMethodConfigurations": configs,
			"description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
			"displayName": "Authentication Methods Policy", "lastModifiedDateTime": created,
			"policyMigrationState": "migrationComplete", "policyVersion": "1.5", "reconfirmationInDays": 0,
			"registrationEnforcement": map[string]any{"authenticationMethodsRegistrationCampaign": map[string]any{
				"snoozeDurationInDays": 1, "state": "default", "excludeTargets": []any{},
				"includeTargets": []any{map[string]any{"id": "all_users", "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator"}},
			}},
			"systemCredentialPreferences": map[string]any{"state": "default", "excludeTargets": []any{}, "includeTargets": []any{map[string]any{"id": "all_users", "targetType": "group"}}},
		})})
	}
	if st.live[entra.KindRoleDefinition].Len() == 0 {
		for _, r := range builtinRoles {
			st.put(&object{kind: entra.KindRoleDefinition, id: r[0], data: mustJSON(map[string]any{
				"id": r[0], "description": "Built-in role: " + r[1] + ".", "displayName": r[1], "isBuiltIn": true,
				"isEnabled": true, "resourceScopes": []string{"/"}, "templateId": r[0], "version": "1",
				"rolePermissions": []any{map[string]any{"allowedResourceActions": []string{"microsoft.directory/allEntities/allProperties/allTasks"}, "condition": nil}},
			})})
		}
	}
	for _, c := range builtinClients {
		if st.spByAppID(c.appID) != nil {
			continue
		}
		appObjID := c.appObjectID
		if st.appByAppID(c.appID) == nil && st.objs[appObjID] == nil {
			st.put(&object{kind: entra.KindApplication, id: appObjID, data: mustJSON(newApplicationDefaults(appObjID, c.appID, c.displayName, st.domain, created, map[string]any{
				"passwordCredentials": []any{map[string]any{
					"customKeyIdentifier": nil, "displayName": "drill credential", "endDateTime": "2099-12-31T00:00:00Z",
					"hint": c.secret[:3], "keyId": c.keyID, "secretText": nil, "startDateTime": created,
				}},
			}))})
		}
		app := st.appByAppID(c.appID)
		st.put(&object{kind: entra.KindServicePrincipal, id: c.spID, data: mustJSON(newServicePrincipalDefaults(c.spID, app, c.appID, c.displayName, st.tenantID))})
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
