package entra

// The kinds' specs, from docs/graph-spec.md §2 (properties, required, read-only,
// write-only) and §2.12 (references). Registration order is restore order: what others
// point at comes first.

// Keyword values that name no object.
var (
	caUserKeywords     = []string{"All", "None", "GuestsOrExternalUsers"}
	caAppKeywords      = []string{"All", "None", "Office365", "MicrosoftAdminPortals"}
	caLocationKeywords = []string{"All", "AllTrusted", "00000000-0000-0000-0000-000000000000"}
	caSPKeywords       = []string{"ServicePrincipalsInMyTenant"}
	authTargetKeywords = []string{"all_users"}
)

// MFATrustedIPsLocation is the pseudo named location id CA policies use for the legacy
// MFA trusted IPs list.
const MFATrustedIPsLocation = "00000000-0000-0000-0000-000000000000"

// DefaultAccessAppRoleID is the appRoleId of "default access" on a resource that defines
// no app roles.
const DefaultAccessAppRoleID = "00000000-0000-0000-0000-000000000000"

func rw(name string) Property    { return Property{Name: name} }
func ro(name string) Property    { return Property{Name: name, Access: ReadOnly} }
func co(name string) Property    { return Property{Name: name, Access: CreateOnly} }
func req(name string) Property   { return Property{Name: name, Required: true} }
func dflt(p Property) Property   { p.Default = true; return p }
func vol(p Property) Property    { p.Volatile = true; return p }
func reqCO(name string) Property { return Property{Name: name, Access: CreateOnly, Required: true} }

func init() {
	// A user's proxy address (SMTP:, smtp:, in any case) is one user's at a time: a
	// restore fails while an active user holds one (graph-spec §3.4).
	register(&Spec{
		Kind:            KindUser,
		Collection:      "/users",
		Bin:             DirectoryBin,
		NaturalKeys:     []string{"userPrincipalName"},
		Unique:          []string{"userPrincipalName", "proxyAddresses"},
		AuditNoun:       "user",
		AuditCategory:   "UserManagement",
		AuditTargetType: "User",
		Properties: []Property{
			dflt(ro("id")),
			req("accountEnabled"),
			rw("ageGroup"),
			dflt(rw("businessPhones")),
			rw("city"),
			rw("companyName"),
			rw("consentProvidedForMinor"),
			rw("country"),
			ro("createdDateTime"),
			ro("creationType"),
			ro("deletedDateTime"),
			rw("department"),
			dflt(req("displayName")),
			rw("employeeHireDate"),
			rw("employeeId"),
			rw("employeeOrgData"),
			rw("employeeType"),
			ro("externalUserState"),
			vol(ro("externalUserStateChangeDateTime")),
			rw("faxNumber"),
			dflt(rw("givenName")),
			rw("identities"),
			ro("imAddresses"),
			dflt(rw("jobTitle")),
			vol(ro("lastPasswordChangeDateTime")),
			dflt(rw("mail")),
			req("mailNickname"),
			dflt(rw("mobilePhone")),
			dflt(rw("officeLocation")),
			rw("onPremisesExtensionAttributes"),
			rw("onPremisesImmutableId"),
			vol(ro("onPremisesLastSyncDateTime")),
			ro("onPremisesSyncEnabled"),
			rw("otherMails"),
			rw("passwordPolicies"),
			{Name: "passwordProfile", Access: WriteOnly, Required: true, Secret: true},
			rw("postalCode"),
			rw("preferredDataLocation"),
			dflt(rw("preferredLanguage")),
			ro("proxyAddresses"),
			ro("securityIdentifier"),
			vol(ro("signInSessionsValidFromDateTime")),
			rw("state"),
			rw("streetAddress"),
			dflt(rw("surname")),
			rw("usageLocation"),
			dflt(req("userPrincipalName")),
			rw("userType"),
		},
		Links: []LinkSpec{
			{Name: "manager", Relation: "manager", Targets: []Kind{KindUser}, Single: true},
		},
	})

	register(&Spec{
		Kind:            KindGroup,
		Collection:      "/groups",
		Bin:             DirectoryBin,
		NaturalKeys:     []string{"displayName", "mailNickname"},
		Unique:          []string{"mailNickname"}, // Microsoft 365 groups only; the sim knows
		AuditNoun:       "group",
		AuditCategory:   "GroupManagement",
		AuditTargetType: "Group",
		Properties: []Property{
			dflt(ro("id")),
			dflt(rw("classification")),
			dflt(ro("createdDateTime")),
			dflt(ro("deletedDateTime")),
			dflt(rw("description")),
			dflt(req("displayName")),
			vol(dflt(ro("expirationDateTime"))),
			dflt(co("groupTypes")),
			dflt(co("isAssignableToRole")),
			dflt(ro("mail")),
			dflt(req("mailEnabled")),
			dflt(req("mailNickname")),
			dflt(rw("membershipRule")),
			dflt(rw("membershipRuleProcessingState")),
			dflt(ro("onPremisesSyncEnabled")),
			rw("preferredDataLocation"),
			dflt(ro("proxyAddresses")),
			vol(dflt(ro("renewedDateTime"))),
			dflt(req("securityEnabled")),
			ro("securityIdentifier"),
			rw("theme"),
			dflt(rw("visibility")),
		},
		Links: []LinkSpec{
			{Name: "members", Relation: "member", Targets: []Kind{KindUser, KindGroup, KindServicePrincipal}},
			{Name: "owners", Relation: "owner", Targets: []Kind{KindUser, KindServicePrincipal}},
		},
	})

	register(&Spec{
		Kind:            KindApplication,
		Collection:      "/applications",
		Bin:             DirectoryBin,
		NaturalKeys:     []string{"displayName"},
		Unique:          []string{"identifierUris", "uniqueName"},
		AuditNoun:       "application",
		AuditCategory:   "ApplicationManagement",
		AuditTargetType: "Application",
		Properties: []Property{
			ro("id"),
			rw("api"),
			ro("appId"),
			rw("appRoles"),
			ro("createdDateTime"),
			ro("deletedDateTime"),
			rw("description"),
			ro("disabledByMicrosoftStatus"),
			req("displayName"),
			rw("groupMembershipClaims"),
			rw("identifierUris"),
			rw("info"),
			rw("isFallbackPublicClient"),
			rw("keyCredentials"),
			rw("notes"),
			rw("optionalClaims"),
			rw("parentalControlSettings"),
			// Secret metadata only: Graph never returns secretText after addPassword, and a
			// recreated application needs new secrets issued by a person.
			ro("passwordCredentials"),
			rw("publicClient"),
			ro("publisherDomain"),
			rw("requiredResourceAccess"),
			rw("serviceManagementReference"),
			rw("signInAudience"),
			rw("spa"),
			rw("tags"),
			rw("tokenEncryptionKeyId"),
			co("uniqueName"),
			rw("web"),
		},
		References: []Reference{
			{Path: "requiredResourceAccess[].resourceAppId", Targets: []Kind{KindServicePrincipal, KindApplication}, Form: AppID, Relation: "app-requires"},
			{Path: "api.knownClientApplications[]", Targets: []Kind{KindApplication}, Form: AppID, Relation: "app-known-client"},
			{Path: "api.preAuthorizedApplications[].appId", Targets: []Kind{KindApplication}, Form: AppID, Relation: "app-preauthorized"},
		},
		Links: []LinkSpec{
			{Name: "owners", Relation: "owner", Targets: []Kind{KindUser, KindServicePrincipal}},
		},
	})

	register(&Spec{
		Kind:            KindServicePrincipal,
		Collection:      "/servicePrincipals",
		Bin:             DirectoryBin,
		NaturalKeys:     []string{"appId"},
		Unique:          []string{"appId"},
		AuditNoun:       "service principal",
		AuditCategory:   "ApplicationManagement",
		AuditTargetType: "ServicePrincipal",
		Properties: []Property{
			ro("id"),
			rw("accountEnabled"),
			vol(ro("appDisplayName")),
			reqCO("appId"),
			ro("appOwnerOrganizationId"),
			rw("appRoleAssignmentRequired"),
			ro("appRoles"),
			ro("deletedDateTime"),
			rw("description"),
			rw("displayName"),
			rw("homepage"),
			rw("keyCredentials"),
			rw("loginUrl"),
			rw("logoutUrl"),
			rw("notes"),
			rw("notificationEmailAddresses"),
			ro("oauth2PermissionScopes"),
			ro("passwordCredentials"),
			rw("preferredSingleSignOnMode"),
			rw("preferredTokenSigningKeyThumbprint"),
			rw("replyUrls"),
			rw("samlSingleSignOnSettings"),
			ro("servicePrincipalNames"),
			ro("servicePrincipalType"),
			ro("signInAudience"),
			rw("tags"),
		},
		// A first-party or multi-tenant app's service principal names an application in
		// another tenant (appOwnerOrganizationId differs): graphx does not count that
		// as dangling.
		References: []Reference{
			{Path: "appId", Targets: []Kind{KindApplication}, Form: AppID, Relation: "app-sp", Required: true},
		},
		Links: []LinkSpec{
			{Name: "owners", Relation: "owner", Targets: []Kind{KindUser, KindServicePrincipal}},
		},
	})

	register(&Spec{
		Kind:            KindNamedLocation,
		Collection:      "/identity/conditionalAccess/namedLocations",
		Bin:             ConditionalAccessBin,
		NaturalKeys:     []string{"displayName"},
		AuditNoun:       "named location",
		AuditCategory:   "Policy",
		AuditTargetType: "Policy",
		Properties: []Property{
			ro("id"),
			ro("createdDateTime"),
			req("displayName"),
			vol(ro("modifiedDateTime")),
			// ipNamedLocation
			rw("ipRanges"),
			rw("isTrusted"),
			// countryNamedLocation
			rw("countriesAndRegions"),
			rw("countryLookupMethod"),
			rw("includeUnknownCountriesAndRegions"),
		},
	})

	register(&Spec{
		Kind:            KindAdministrativeUnit,
		Collection:      "/directory/administrativeUnits",
		Bin:             DirectoryBin,
		NaturalKeys:     []string{"displayName"},
		AuditNoun:       "administrative unit",
		AuditCategory:   "AdministrativeUnit",
		AuditTargetType: "Other",
		Properties: []Property{
			ro("id"),
			ro("deletedDateTime"),
			rw("description"),
			req("displayName"),
			co("isMemberManagementRestricted"),
			rw("membershipRule"),
			rw("membershipRuleProcessingState"),
			rw("membershipType"),
			rw("visibility"),
		},
		Links: []LinkSpec{
			{Name: "members", Relation: "au-member", Targets: []Kind{KindUser, KindGroup}},
		},
	})

	register(&Spec{
		Kind:            KindRoleDefinition,
		Collection:      "/roleManagement/directory/roleDefinitions",
		NaturalKeys:     []string{"displayName"},
		AuditNoun:       "role definition",
		AuditCategory:   "RoleManagement",
		AuditTargetType: "Role",
		Properties: []Property{
			ro("id"),
			rw("description"),
			req("displayName"),
			ro("isBuiltIn"),
			req("isEnabled"),
			rw("resourceScopes"),
			req("rolePermissions"),
			co("templateId"),
			rw("version"),
		},
	})

	register(&Spec{
		Kind:            KindConditionalAccessPolicy,
		Collection:      "/identity/conditionalAccess/policies",
		Bin:             ConditionalAccessBin,
		NaturalKeys:     []string{"displayName"},
		AuditNoun:       "conditional access policy",
		AuditCategory:   "Policy",
		AuditTargetType: "Policy",
		Properties: []Property{
			ro("id"),
			req("conditions"),
			ro("createdDateTime"),
			req("displayName"),
			rw("grantControls"),
			vol(ro("modifiedDateTime")),
			rw("sessionControls"),
			req("state"),
			ro("templateId"),
		},
		References: []Reference{
			{Path: "conditions.users.includeUsers[]", Targets: []Kind{KindUser}, Relation: "ca-include-user", Special: caUserKeywords},
			{Path: "conditions.users.excludeUsers[]", Targets: []Kind{KindUser}, Relation: "ca-exclude-user", Special: caUserKeywords},
			{Path: "conditions.users.includeGroups[]", Targets: []Kind{KindGroup}, Relation: "ca-include-group"},
			{Path: "conditions.users.excludeGroups[]", Targets: []Kind{KindGroup}, Relation: "ca-exclude-group"},
			{Path: "conditions.users.includeRoles[]", Targets: []Kind{KindRoleDefinition}, Form: RoleTemplateID, Relation: "ca-include-role"},
			{Path: "conditions.users.excludeRoles[]", Targets: []Kind{KindRoleDefinition}, Form: RoleTemplateID, Relation: "ca-exclude-role"},
			{Path: "conditions.applications.includeApplications[]", Targets: []Kind{KindApplication, KindServicePrincipal}, Form: AppID, Relation: "ca-app", Special: caAppKeywords},
			{Path: "conditions.applications.excludeApplications[]", Targets: []Kind{KindApplication, KindServicePrincipal}, Form: AppID, Relation: "ca-exclude-app", Special: caAppKeywords},
			{Path: "conditions.clientApplications.includeServicePrincipals[]", Targets: []Kind{KindServicePrincipal}, Relation: "ca-include-sp", Special: caSPKeywords},
			{Path: "conditions.clientApplications.excludeServicePrincipals[]", Targets: []Kind{KindServicePrincipal}, Relation: "ca-exclude-sp", Special: caSPKeywords},
			{Path: "conditions.locations.includeLocations[]", Targets: []Kind{KindNamedLocation}, Relation: "ca-location", Special: caLocationKeywords},
			{Path: "conditions.locations.excludeLocations[]", Targets: []Kind{KindNamedLocation}, Relation: "ca-exclude-location", Special: caLocationKeywords},
		},
	})

	register(&Spec{
		Kind:            KindRoleAssignment,
		Collection:      "/roleManagement/directory/roleAssignments",
		NaturalKeys:     []string{"principalId", "roleDefinitionId", "directoryScopeId"},
		AuditNoun:       "member to role",
		AuditCategory:   "RoleManagement",
		AuditTargetType: "Role",
		Properties: []Property{
			ro("id"),
			co("appScopeId"),
			co("directoryScopeId"),
			reqCO("principalId"),
			reqCO("roleDefinitionId"),
		},
		References: []Reference{
			{Path: "principalId", Targets: []Kind{KindUser, KindGroup, KindServicePrincipal}, Relation: "role-principal", Required: true},
			{Path: "roleDefinitionId", Targets: []Kind{KindRoleDefinition}, Form: RoleTemplateID, Relation: "role-definition", Required: true},
			{Path: "directoryScopeId", Targets: []Kind{KindAdministrativeUnit, KindApplication}, Form: DirectoryScope, Relation: "role-scope", Required: true},
		},
	})

	register(&Spec{
		Kind:            KindAppRoleAssignment,
		Collection:      "/servicePrincipals/{parent}/appRoleAssignedTo",
		Parent:          KindServicePrincipal,
		ParentProperty:  "resourceId",
		NaturalKeys:     []string{"principalId", "resourceId", "appRoleId"},
		AuditNoun:       "app role assignment to service principal",
		AuditCategory:   "ApplicationManagement",
		AuditTargetType: "ServicePrincipal",
		Properties: []Property{
			ro("id"),
			reqCO("appRoleId"),
			ro("createdDateTime"),
			ro("deletedDateTime"),
			vol(ro("principalDisplayName")),
			reqCO("principalId"),
			ro("principalType"),
			vol(ro("resourceDisplayName")),
			reqCO("resourceId"),
		},
		References: []Reference{
			{Path: "principalId", Targets: []Kind{KindUser, KindGroup, KindServicePrincipal}, Relation: "app-role-principal", Required: true},
			{Path: "resourceId", Targets: []Kind{KindServicePrincipal}, Relation: "app-role-resource", Required: true},
		},
	})

	register(&Spec{
		Kind:            KindOAuth2PermissionGrant,
		Collection:      "/oauth2PermissionGrants",
		NaturalKeys:     []string{"clientId", "resourceId", "consentType", "principalId"},
		AuditNoun:       "delegated permission grant",
		AuditCategory:   "ApplicationManagement",
		AuditTargetType: "ServicePrincipal",
		Properties: []Property{
			ro("id"),
			reqCO("clientId"),
			reqCO("consentType"),
			co("principalId"),
			reqCO("resourceId"),
			rw("scope"),
		},
		References: []Reference{
			{Path: "clientId", Targets: []Kind{KindServicePrincipal}, Relation: "grant-client", Required: true},
			{Path: "resourceId", Targets: []Kind{KindServicePrincipal}, Relation: "grant-resource", Required: true},
			// Null for AllPrincipals grants (nulls hold no reference); a Principal grant
			// cannot exist without its user.
			{Path: "principalId", Targets: []Kind{KindUser}, Relation: "grant-principal", Required: true},
		},
	})

	register(&Spec{
		Kind:            KindAuthenticationMethodsPolicy,
		Collection:      "/policies/authenticationMethodsPolicy",
		Singleton:       true,
		AuditNoun:       "authentication methods policy",
		AuditCategory:   "Policy",
		AuditTargetType: "Policy",
		Properties: []Property{
			ro("id"),
			// Written one configuration at a time, through
			// /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}.
			rw("authenticationMethodConfigurations"),
			ro("description"),
			ro("displayName"),
			vol(ro("lastModifiedDateTime")),
			rw("policyMigrationState"),
			vol(ro("policyVersion")),
			rw("reconfirmationInDays"),
			rw("registrationEnforcement"),
			rw("systemCredentialPreferences"),
		},
		References: []Reference{
			{Path: "authenticationMethodConfigurations[].includeTargets[].id", Targets: []Kind{KindGroup}, Relation: "authmethod-include-group", Special: authTargetKeywords},
			{Path: "authenticationMethodConfigurations[].excludeTargets[].id", Targets: []Kind{KindGroup}, Relation: "authmethod-exclude-group", Special: authTargetKeywords},
			{Path: "registrationEnforcement.authenticationMethodsRegistrationCampaign.includeTargets[].id", Targets: []Kind{KindGroup, KindUser}, Relation: "authmethod-campaign-include", Special: authTargetKeywords},
			{Path: "registrationEnforcement.authenticationMethodsRegistrationCampaign.excludeTargets[].id", Targets: []Kind{KindGroup, KindUser}, Relation: "authmethod-campaign-exclude", Special: authTargetKeywords},
			{Path: "systemCredentialPreferences.includeTargets[].id", Targets: []Kind{KindGroup}, Relation: "authmethod-syscred-include", Special: authTargetKeywords},
			{Path: "systemCredentialPreferences.excludeTargets[].id", Targets: []Kind{KindGroup}, Relation: "authmethod-syscred-exclude", Special: authTargetKeywords},
		},
	})

	register(&Spec{
		Kind:            KindOrganization,
		Collection:      "/organization",
		ReadOnlyKind:    true,
		AuditNoun:       "company",
		AuditCategory:   "DirectoryManagement",
		AuditTargetType: "Directory",
		Properties: []Property{
			ro("id"),
			ro("city"),
			ro("countryLetterCode"),
			ro("createdDateTime"),
			ro("displayName"),
			ro("tenantType"),
			ro("verifiedDomains"),
		},
	})
}
