package sim

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/lifelinehq/lifeline/entra"
)

// jsonType is the JSON shape a property's value must have on write. entra says which
// properties exist and who may write them; the value shapes are the sim's own table,
// from the Graph resource pages (docs/graph-spec.md §2).
type jsonType byte

const (
	tAny     jsonType = 0
	tString  jsonType = 's'
	tBool    jsonType = 'b'
	tNumber  jsonType = 'n'
	tObject  jsonType = 'o'
	tStrings jsonType = 'S' // array of strings
	tArray   jsonType = 'A' // array of objects
)

func (t jsonType) String() string {
	switch t {
	case tString:
		return "Edm.String"
	case tBool:
		return "Edm.Boolean"
	case tNumber:
		return "Edm.Int32"
	case tObject:
		return "a complex type"
	case tStrings:
		return "Collection(Edm.String)"
	case tArray:
		return "a collection"
	}
	return "any"
}

// propertyTypes gives each kind's properties' JSON shapes, as "name:t" pairs.
var propertyTypes = map[entra.Kind]map[string]jsonType{}

func init() {
	table := map[entra.Kind]string{
		entra.KindUser: `accountEnabled:b ageGroup:s businessPhones:S city:s companyName:s consentProvidedForMinor:s
			country:s createdDateTime:s creationType:s deletedDateTime:s department:s displayName:s employeeHireDate:s
			employeeId:s employeeOrgData:o employeeType:s externalUserState:s externalUserStateChangeDateTime:s
			faxNumber:s givenName:s identities:A imAddresses:S jobTitle:s lastPasswordChangeDateTime:s mail:s
			mailNickname:s mobilePhone:s officeLocation:s onPremisesExtensionAttributes:o onPremisesImmutableId:s
			onPremisesLastSyncDateTime:s onPremisesSyncEnabled:b otherMails:S passwordPolicies:s passwordProfile:o
			postalCode:s preferredDataLocation:s preferredLanguage:s proxyAddresses:S securityIdentifier:s
			signInSessionsValidFromDateTime:s state:s streetAddress:s surname:s usageLocation:s userPrincipalName:s userType:s`,
		entra.KindGroup: `classification:s createdDateTime:s deletedDateTime:s description:s displayName:s
			expirationDateTime:s groupTypes:S isAssignableToRole:b mail:s mailEnabled:b mailNickname:s membershipRule:s
			membershipRuleProcessingState:s onPremisesSyncEnabled:b preferredDataLocation:s proxyAddresses:S
			renewedDateTime:s securityEnabled:b securityIdentifier:s theme:s visibility:s`,
		entra.KindApplication: `api:o appId:s appRoles:A createdDateTime:s deletedDateTime:s description:s
			disabledByMicrosoftStatus:s displayName:s groupMembershipClaims:s identifierUris:S info:o
			isFallbackPublicClient:b keyCredentials:A notes:s optionalClaims:o parentalControlSettings:o
			passwordCredentials:A publicClient:o publisherDomain:s requiredResourceAccess:A
			serviceManagementReference:s signInAudience:s spa:o tags:S tokenEncryptionKeyId:s uniqueName:s web:o`,
		entra.KindServicePrincipal: `accountEnabled:b appDisplayName:s appId:s appOwnerOrganizationId:s
			appRoleAssignmentRequired:b appRoles:A deletedDateTime:s description:s displayName:s homepage:s
			keyCredentials:A loginUrl:s logoutUrl:s notes:s notificationEmailAddresses:S oauth2PermissionScopes:A
			passwordCredentials:A preferredSingleSignOnMode:s preferredTokenSigningKeyThumbprint:s replyUrls:S
			samlSingleSignOnSettings:o servicePrincipalNames:S servicePrincipalType:s signInAudience:s tags:S`,
		entra.KindNamedLocation: `createdDateTime:s displayName:s modifiedDateTime:s ipRanges:A isTrusted:b
			countriesAndRegions:S countryLookupMethod:s includeUnknownCountriesAndRegions:b`,
		entra.KindAdministrativeUnit: `deletedDateTime:s description:s displayName:s isMemberManagementRestricted:b
			membershipRule:s membershipRuleProcessingState:s membershipType:s visibility:s`,
		entra.KindRoleDefinition: `description:s displayName:s isBuiltIn:b isEnabled:b resourceScopes:S
			rolePermissions:A templateId:s version:s`,
		entra.KindConditionalAccessPolicy: `conditions:o createdDateTime:s displayName:s grantControls:o
			modifiedDateTime:s sessionControls:o state:s templateId:s`,
		entra.KindRoleAssignment:        `appScopeId:s directoryScopeId:s principalId:s roleDefinitionId:s`,
		entra.KindAppRoleAssignment:     `appRoleId:s createdDateTime:s deletedDateTime:s principalDisplayName:s principalId:s principalType:s resourceDisplayName:s resourceId:s`,
		entra.KindOAuth2PermissionGrant: `clientId:s consentType:s principalId:s resourceId:s scope:s`,
		entra.KindAuthenticationMethodsPolicy: `authenticationMethodConfigurations:A description:s displayName:s
			lastModifiedDateTime:s policyMigrationState:s policyVersion:s reconfirmationInDays:n
			registrationEnforcement:o systemCredentialPreferences:o`,
		entra.KindOrganization: `city:s countryLetterCode:s createdDateTime:s displayName:s tenantType:s verifiedDomains:A`,
	}
	for k, spec := range table {
		m := map[string]jsonType{"id": tString}
		for _, pair := range strings.Fields(spec) {
			name, t, _ := strings.Cut(pair, ":")
			m[name] = jsonType(t[0])
		}
		propertyTypes[k] = m
	}
}

// enumValues restricts string properties to the values Graph accepts.
var enumValues = map[string][]string{
	"conditionalAccessPolicy/state":     {"enabled", "disabled", "enabledForReportingButNotEnforced"},
	"oAuth2PermissionGrant/consentType": {"AllPrincipals", "Principal"},
	"user/userType":                     {"Member", "Guest"},
	"namedLocation/countryLookupMethod": {"clientIpAddress", "authenticatorAppGps"},
}

// typeName is Graph's spelling of a kind's type in messages.
func typeName(k entra.Kind) string { return "microsoft.graph." + string(k) }

// writeBody is a validated POST or PATCH body: plain properties, the @odata.type the
// client sent, and the "x@odata.bind" link lists.
type writeBody struct {
	props     map[string]json.RawMessage
	odataType string
	binds     map[string][]string
}

// parseBody decodes a write body into its members. A body that is not a JSON object is
// malformed; duplicate keys keep the last value as Graph does.
func parseBody(body []byte) (map[string]json.RawMessage, *apiError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, malformed()
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, malformed()
	}
	return m, nil
}

// validateWrite checks a body against the kind's spec: unknown properties, read-only
// ones, create-only ones on PATCH, wrong value shapes, enum values, and (on create)
// missing required properties. allowBinds names the link properties that may be bound.
func validateWrite(k entra.Kind, m map[string]json.RawMessage, create bool, allowBinds []string) (*writeBody, *apiError) {
	spec := entra.MustLookup(k)
	wb := &writeBody{props: map[string]json.RawMessage{}, binds: map[string][]string{}}
	types := propertyTypes[k]
	for _, key := range sortedKeys(m) {
		raw := m[key]
		if key == "@odata.type" {
			var t string
			if json.Unmarshal(raw, &t) != nil {
				return nil, badRequest("A value of type '%s' was expected for property '@odata.type'.", tString)
			}
			wb.odataType = t
			continue
		}
		if name, ok := strings.CutSuffix(key, "@odata.bind"); ok {
			if !contains(allowBinds, name) {
				return nil, badRequest("Property '%s' does not exist on type '%s' or cannot be bound.", name, typeName(k))
			}
			var urls []string
			if json.Unmarshal(raw, &urls) != nil {
				return nil, badRequest("The value of the '%s' annotation must be an array of URLs.", key)
			}
			wb.binds[name] = urls
			continue
		}
		if strings.HasPrefix(key, "@") || strings.Contains(key, "@odata.") {
			continue // instance annotations are ignored, as OData says
		}
		p, ok := spec.Property(key)
		if !ok {
			return nil, badRequest("Property '%s' does not exist on type '%s'.", key, typeName(k))
		}
		switch {
		case p.Access == entra.ReadOnly:
			return nil, badRequest("Property '%s' is read-only and cannot be set.", key)
		case p.Access == entra.CreateOnly && !create:
			return nil, badRequest("Property '%s' can only be set when the object is created; it cannot be updated.", key)
		}
		if err := checkType(k, key, types[key], raw, p.Required); err != nil {
			return nil, err
		}
		wb.props[key] = raw
	}
	if create {
		for _, name := range spec.RequiredOnCreate() {
			if _, ok := wb.props[name]; !ok {
				return nil, badRequest("A value is required for property '%s' of resource '%s'.", name, typeName(k))
			}
		}
	}
	return wb, nil
}

// checkType refuses a value whose JSON shape does not fit the property.
func checkType(k entra.Kind, name string, t jsonType, raw json.RawMessage, required bool) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return malformed()
	}
	if string(raw) == "null" {
		if required {
			return badRequest("Invalid value specified for property '%s' of resource '%s': the property is required and cannot be null.", name, typeName(k))
		}
		return nil
	}
	wrong := func() *apiError {
		return badRequest("Cannot convert the literal '%s' to the expected type '%s' of property '%s'.", abbreviate(string(raw)), t, name)
	}
	switch t {
	case tString:
		if raw[0] != '"' {
			return wrong()
		}
		if vals := enumValues[string(k)+"/"+name]; vals != nil {
			var s string
			_ = json.Unmarshal(raw, &s)
			if !contains(vals, s) {
				return badRequest("Invalid value '%s' for property '%s': it must be one of %s.", s, name, strings.Join(vals, ", "))
			}
		}
	case tBool:
		if string(raw) != "true" && string(raw) != "false" {
			return wrong()
		}
	case tNumber:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return wrong()
		}
	case tObject:
		if raw[0] != '{' {
			return wrong()
		}
	case tStrings:
		var ss []*string
		if raw[0] != '[' || json.Unmarshal(raw, &ss) != nil {
			return wrong()
		}
	case tArray:
		if raw[0] != '[' {
			return wrong()
		}
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// readableProperties returns the names of a kind's properties a read may show.
func readableProperties(k entra.Kind) []string {
	var out []string
	for _, p := range entra.MustLookup(k).Properties {
		if p.Access != entra.WriteOnly {
			out = append(out, p.Name)
		}
	}
	return out
}

// writeOnlyProperties are the members never shown, even when a dataset carried them.
func writeOnlyProperties(k entra.Kind) map[string]bool {
	m := map[string]bool{}
	for _, p := range entra.MustLookup(k).Properties {
		if p.Access == entra.WriteOnly {
			m[p.Name] = true
		}
	}
	return m
}
