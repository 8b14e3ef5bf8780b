package sim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lifelinehq/lifeline/entra"
)

// The sizes Generate accepts. Below a dozen users there is no room for the break-glass
// accounts, the administrators and a few departments; above a million the dataset no
// longer fits comfortably in memory next to a snapshot being captured from it.
const (
	MinGenerateUsers = 10
	MaxGenerateUsers = 1_000_000
)

// GenerateOptions sizes and seeds a generated tenant.
type GenerateOptions struct {
	// Users is the number of user accounts, break-glass accounts and guests included.
	// Every other kind scales from it: groups about Users/20, applications about
	// Users/200, administrative units about Users/2000.
	Users int
	// Seed names the tenant: the same seed and size always give the same bytes, so a
	// drill can be replayed and a bug report reproduced.
	Seed int64
}

// Generate builds a realistic tenant deterministically from the seed: the same options
// always give byte-identical datasets. Every kind entra knows is present, and every
// reference entra declares resolves inside the dataset.
//
// The objects' JSON is written canonically (keys sorted at every level, escaped as
// encoding/json escapes) into shared chunks of memory, so that a million users cost one
// allocation per megabyte of JSON rather than one per object. A consumer that wants to
// modify an object's JSON must copy it first.
func Generate(opts GenerateOptions) (*Dataset, error) {
	if opts.Users < MinGenerateUsers || opts.Users > MaxGenerateUsers {
		return nil, fmt.Errorf("cannot generate a tenant of %d users: choose between %d and %d", opts.Users, MinGenerateUsers, MaxGenerateUsers)
	}
	g := newTenantGen(opts)
	g.genTenant()
	g.genUsers()
	g.genApplicationIDs()
	g.genGroups()
	g.genApplications()
	g.genNamedLocations()
	g.genAdministrativeUnits()
	g.genRoleDefinitions()
	g.genConditionalAccess()
	g.genRoleAssignments()
	g.genAppRoleAssignments()
	g.genPermissionGrants()
	g.genAuthenticationMethodsPolicy()
	g.genOrganization()
	return g.dataset(), nil
}

// Well-known identifiers of objects every tenant has but no tenant owns.
const (
	genGraphAppID      = "00000003-0000-0000-c000-000000000000"
	genExchangeAppID   = "00000002-0000-0ff1-ce00-000000000000"
	genSharePointAppID = "00000003-0000-0ff1-ce00-000000000000"
	genMicrosoftTenant = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
)

// genBase is the instant the generated tenant's history ends at: every timestamp is
// this minus a seeded offset, so that the same seed gives the same bytes on any day.
var genBase = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC).Unix()

const genDay = 24 * 3600

// Built-in directory role template ids, as Microsoft publishes them.
const (
	genRoleGlobalAdmin    = "62e90394-69f5-4237-9190-012177145e10"
	genRolePrivilegedRole = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	genRoleUserAdmin      = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	genRoleGroupsAdmin    = "fdd7a751-b60b-444a-984c-02652fe8fa1c"
	genRoleAppAdmin       = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	genRoleCloudAppAdmin  = "158c047a-c907-4556-b7ef-446551a6b5f7"
	genRoleCAAdmin        = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9"
	genRoleSecurityAdmin  = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	genRoleHelpdeskAdmin  = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	genRoleGlobalReader   = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	genRoleAuthAdmin      = "c4e39bd9-1100-46d3-8c65-fb160da0071f"
	genRoleExchangeAdmin  = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	genDefaultAccessRole  = entra.DefaultAccessAppRoleID
	genAllUsersAuthTarget = "all_users"
)

type genBuiltinRole struct {
	id, name, description string
	actions               []string
}

var genBuiltinRoles = []genBuiltinRole{
	{genRoleGlobalAdmin, "Global Administrator", "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
		[]string{"microsoft.directory/applications/allProperties/allTasks", "microsoft.directory/conditionalAccessPolicies/allProperties/allTasks", "microsoft.directory/groups/allProperties/allTasks", "microsoft.directory/roleAssignments/allProperties/allTasks", "microsoft.directory/users/allProperties/allTasks"}},
	{genRolePrivilegedRole, "Privileged Role Administrator", "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
		[]string{"microsoft.directory/privilegedIdentityManagement/allProperties/allTasks", "microsoft.directory/roleAssignments/allProperties/allTasks", "microsoft.directory/roleDefinitions/allProperties/allTasks"}},
	{genRoleUserAdmin, "User Administrator", "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
		[]string{"microsoft.directory/groups/create", "microsoft.directory/groups/delete", "microsoft.directory/users/create", "microsoft.directory/users/delete", "microsoft.directory/users/password/update", "microsoft.directory/users/restore"}},
	{genRoleGroupsAdmin, "Groups Administrator", "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports.",
		[]string{"microsoft.directory/groups/create", "microsoft.directory/groups/delete", "microsoft.directory/groups/members/update", "microsoft.directory/groups/owners/update", "microsoft.directory/groups/restore"}},
	{genRoleAppAdmin, "Application Administrator", "Can create and manage all aspects of app registrations and enterprise apps.",
		[]string{"microsoft.directory/applications/create", "microsoft.directory/applications/credentials/update", "microsoft.directory/applications/delete", "microsoft.directory/servicePrincipals/appRoleAssignedTo/update", "microsoft.directory/servicePrincipals/create"}},
	{genRoleCloudAppAdmin, "Cloud Application Administrator", "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
		[]string{"microsoft.directory/applications/create", "microsoft.directory/applications/credentials/update", "microsoft.directory/applications/delete", "microsoft.directory/servicePrincipals/create"}},
	{genRoleCAAdmin, "Conditional Access Administrator", "Can manage Conditional Access capabilities.",
		[]string{"microsoft.directory/conditionalAccessPolicies/create", "microsoft.directory/conditionalAccessPolicies/delete", "microsoft.directory/namedLocations/create", "microsoft.directory/namedLocations/delete"}},
	{genRoleSecurityAdmin, "Security Administrator", "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
		[]string{"microsoft.directory/conditionalAccessPolicies/standard/read", "microsoft.directory/identityProtection/allProperties/allTasks", "microsoft.directory/namedLocations/create", "microsoft.directory/policies/standard/read"}},
	{genRoleHelpdeskAdmin, "Helpdesk Administrator", "Can reset passwords for non-administrators and Helpdesk Administrators.",
		[]string{"microsoft.directory/users/invalidateAllRefreshTokens", "microsoft.directory/users/password/update", "microsoft.directory/users/standard/read"}},
	{genRoleGlobalReader, "Global Reader", "Can read everything that a Global Administrator can, but not update anything.",
		[]string{"microsoft.directory/applications/standard/read", "microsoft.directory/groups/standard/read", "microsoft.directory/roleAssignments/standard/read", "microsoft.directory/users/standard/read"}},
	{genRoleAuthAdmin, "Authentication Administrator", "Can access to view, set and reset authentication method information for any non-admin user.",
		[]string{"microsoft.directory/users/authenticationMethods/create", "microsoft.directory/users/authenticationMethods/delete", "microsoft.directory/users/authenticationMethods/standard/read", "microsoft.directory/users/password/update"}},
	{genRoleExchangeAdmin, "Exchange Administrator", "Can manage all aspects of the Exchange product.",
		[]string{"microsoft.directory/groups.unified/create", "microsoft.directory/groups.unified/delete", "microsoft.office365.exchange/allEntities/basic/allTasks"}},
}

// genPermission is one permission a first-party resource publishes: an app role
// (application permission) or an OAuth2 scope (delegated permission).
type genPermission struct {
	id, value, display string
	admin              bool
}

// Microsoft Graph's permissions with their real ids, so that generated consents read
// like a real tenant's.
var genGraphRoles = []genPermission{
	{"df021288-bdef-4463-88db-98f22de89214", "User.Read.All", "Read all users' full profiles", true},
	{"5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", "Read all groups", true},
	{"7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", "Read directory data", true},
	{"9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", "Read all applications", true},
	{"b0afded3-3588-46d8-8b3d-9842eff778da", "AuditLog.Read.All", "Read all audit log data", true},
	{"b633e1c5-b582-4048-a93e-9f11b44c7e96", "Mail.Send", "Send mail as any user", true},
	{"332a536c-c7ef-4017-ab91-336970924f0d", "Sites.Read.All", "Read items in all site collections", true},
	{"741f803b-c850-494e-b5df-cde7c675a1ca", "User.ReadWrite.All", "Read and write all users' full profiles", true},
	{"62a82d76-70ea-41e2-9197-370581804d09", "Group.ReadWrite.All", "Read and write all groups", true},
	{"246dd0d5-5bd0-4def-940b-0421030a5b68", "Policy.Read.All", "Read your organization's policies", true},
}

var genGraphScopes = []genPermission{
	{"37f7f235-527c-4136-accd-4a02d197296e", "openid", "Sign users in", false},
	{"14dad69e-099b-42c9-810b-d002981feec1", "profile", "View users' basic profile", false},
	{"64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "email", "View users' email address", false},
	{"7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "offline_access", "Maintain access to data you have given it access to", false},
	{"e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read", "Sign in and read user profile", false},
	{"b340eb25-3456-403f-be2f-af7a0d370277", "User.ReadBasic.All", "Read all users' basic profiles", false},
	{"570282fd-fa5c-430d-a7fd-fc8dc98a9dca", "Mail.Read", "Read user mail", false},
	{"465a38f9-76ea-45b9-9f34-9e8b0d4b0b42", "Calendars.Read", "Read user calendars", false},
	{"10465720-29dd-4523-a11a-6a75c743c9d9", "Files.Read", "Read user files", false},
	{"5f8c59db-677d-491f-a6b8-5f174b11ec1d", "Group.Read.All", "Read all groups", true},
}

var genExchangeRoles = []genPermission{
	{"dc50a0fb-09a3-484d-be87-e023b12c6440", "Exchange.ManageAsApp", "Manage Exchange As Application", true},
	{"dc890d15-9560-4a4c-9b7f-a736ec74ec40", "full_access_as_app", "Use Exchange Web Services with full access to all mailboxes", true},
}

var genExchangeScopes = []genPermission{
	{"3b5f3d61-589b-4a3c-a359-5dd4b5ee5bd5", "EWS.AccessAsUser.All", "Access mailboxes as the signed-in user via Exchange Web Services", false},
}

var genSharePointRoles = []genPermission{
	{"678536fe-1083-478a-9c59-b99265e6b0d3", "Sites.FullControl.All", "Have full control of all site collections", true},
}

var genSharePointScopes = []genPermission{
	{"56680e0d-d2a3-4ae1-80d8-3c4f2100e3d0", "AllSites.Read", "Read items in all site collections", false},
}

type genFirstParty struct {
	appID, name string
	roles       []genPermission
	scopes      []genPermission
	names       []string
}

var genFirstParties = []genFirstParty{
	{genGraphAppID, "Microsoft Graph", genGraphRoles, genGraphScopes,
		[]string{"00000003-0000-0000-c000-000000000000/ags.windows.net", genGraphAppID, "https://canary.graph.microsoft.com", "https://graph.microsoft.com", "https://graph.microsoft.us", "https://ags.windows.net"}},
	{genExchangeAppID, "Office 365 Exchange Online", genExchangeRoles, genExchangeScopes,
		[]string{genExchangeAppID, "https://outlook.office365.com", "https://ps.outlook.com", "https://outlook.office.com"}},
	{genSharePointAppID, "Office 365 SharePoint Online", genSharePointRoles, genSharePointScopes,
		[]string{genSharePointAppID, "https://microsoft.sharepoint-df.com", "https://microsoft.sharepoint.com"}},
}

var genOrgNames = []string{
	"Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Woodgrove Bank", "Litware",
	"Adventure Works", "Wingtip Toys", "Proseware", "Alpine Ski House", "Fourth Coffee",
	"Trey Research", "Relecloud", "Lamna Healthcare", "Coho Winery", "Wide World Importers",
}

var genGuestDomains = []string{"fabrikam.com", "northwindtraders.com", "adatum.com", "gmail.com", "outlook.com", "partners.example.com"}

var genFirstNames = []string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
	"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
	"Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
	"Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
	"Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie",
	"Adele", "Alex", "Megan", "Lee", "Nestor", "Pradeep", "Priya", "Aarav", "Ananya", "Wei",
	"Mei", "Hiroshi", "Yuki", "Min-jun", "Seo-yeon", "Mohammed", "Fatima", "Omar", "Aisha", "Carlos",
	"Lucía", "José", "Sofía", "Mateo", "Valentina", "Lukas", "Hannah", "Jonas", "Léa", "Chloé",
	"François", "Zoë", "Renée", "Björn", "Søren", "Ingrid", "Astrid", "Anders", "Mikael", "Oliver",
	"Amelia", "Noah", "Isla", "Liam", "Olivia", "Ethan", "Ava", "Diego", "Camila", "Kwame",
	"Amara", "Chinedu", "Ngozi", "Tariq", "Leila", "Dmitri", "Olga", "Sean", "Niamh", "Siobhán",
	"Raj", "Ravi", "Sunita", "Grace", "Isabel", "Marco", "Elena", "Tomás", "Anika", "Lars",
}

var genLastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Vance", "Wilber", "Bowen", "Patel", "Sharma", "Gupta", "Kumar", "Chen", "Wang", "Li",
	"Zhang", "Tanaka", "Sato", "Suzuki", "Kim", "Park", "Choi", "Ali", "Khan", "Hassan",
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Lefèvre", "Moreau", "García", "Núñez",
	"Fernández", "Rossi", "Bianchi", "Esposito", "Jansen", "de Vries", "van den Berg", "Andersson", "Johansson", "Nilsson",
	"Larsen", "Hansen", "O'Brien", "Murphy", "Kelly", "Okafor", "Mensah", "Nkosi", "Ivanov", "Kowalski",
	"Nowak", "Novák", "Horváth", "Silva", "Santos", "Costa", "Oliveira", "Brennan", "Hayes", "Lindqvist",
}

// genFirstASCII and genLastASCII are the names as they appear in a userPrincipalName,
// which Graph restricts to ASCII. Folding merges some names ("García" and "Garcia"), so
// genFirstKey and genLastKey map each name to the first one with the same folded form:
// UPN counters are kept per folded pair.
var (
	genFirstASCII, genLastASCII = genASCIIAll(genFirstNames), genASCIIAll(genLastNames)
	genFirstKey, genLastKey     = genFoldKeys(genFirstASCII), genFoldKeys(genLastASCII)
)

func genFoldKeys(folded []string) []int {
	first := map[string]int{}
	keys := make([]int, len(folded))
	for i, f := range folded {
		if j, ok := first[f]; ok {
			keys[i] = j
		} else {
			first[f] = i
			keys[i] = i
		}
	}
	return keys
}

func genASCIIAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = genASCII(n)
	}
	return out
}

// genASCII folds a name into the lower-case ASCII a UPN can hold ("Núñez" -> "nunez").
func genASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		case r == '-':
			b.WriteRune(r)
		default:
			if f, ok := genFold[r]; ok {
				b.WriteString(f)
			}
		}
	}
	return b.String()
}

var genFold = map[rune]string{
	'á': "a", 'à': "a", 'â': "a", 'ä': "a", 'ã': "a", 'å': "a", 'Á': "a", 'Å': "a",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'É': "e",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'Í': "i", 'Î': "i",
	'ó': "o", 'ò': "o", 'ô': "o", 'ö': "o", 'õ': "o", 'ø': "o", 'Ö': "o", 'Ø': "o",
	'ú': "u", 'ù': "u", 'û': "u", 'ü': "u", 'Ü': "u",
	'ñ': "n", 'ç': "c", 'ß': "ss", 'ý': "y",
}

type genOffice struct {
	city, state, country, code, postal, street, phone, lang string
	weight                                                  int
}

var genOffices = []genOffice{
	{"Seattle", "WA", "United States", "US", "98101", "1200 Fifth Avenue", "+1 206 555 ", "en-US", 20},
	{"London", "England", "United Kingdom", "GB", "EC2V 7HH", "1 Poultry", "+44 20 7946 ", "en-GB", 10},
	{"New York", "NY", "United States", "US", "10001", "350 Fifth Avenue", "+1 212 555 ", "en-US", 14},
	{"Bengaluru", "Karnataka", "India", "IN", "560001", "24 MG Road", "+91 80 5550 ", "en-IN", 8},
	{"Berlin", "Berlin", "Germany", "DE", "10117", "Friedrichstraße 68", "+49 30 5550 ", "de-DE", 6},
	{"Austin", "TX", "United States", "US", "78701", "600 Congress Avenue", "+1 512 555 ", "en-US", 8},
	{"Toronto", "ON", "Canada", "CA", "M5H 2N2", "100 King Street West", "+1 416 555 ", "en-CA", 5},
	{"Dublin", "Leinster", "Ireland", "IE", "D02 X285", "70 Sir John Rogerson's Quay", "+353 1 555 ", "en-IE", 5},
	{"Paris", "Île-de-France", "France", "FR", "75008", "52 Avenue des Champs-Élysées", "+33 1 5550 ", "fr-FR", 5},
	{"Singapore", "Singapore", "Singapore", "SG", "018989", "8 Marina View", "+65 6555 ", "en-SG", 4},
	{"Tokyo", "Tokyo", "Japan", "JP", "100-0005", "1-1 Marunouchi, Chiyoda-ku", "+81 3 5555 ", "ja-JP", 4},
	{"Sydney", "NSW", "Australia", "AU", "2000", "1 Martin Place", "+61 2 5550 ", "en-AU", 4},
	{"São Paulo", "SP", "Brazil", "BR", "01310-100", "Avenida Paulista 1000", "+55 11 5555 ", "pt-BR", 3},
	{"Amsterdam", "North Holland", "Netherlands", "NL", "1017 CE", "Herengracht 500", "+31 20 555 ", "nl-NL", 3},
	{"Madrid", "Madrid", "Spain", "ES", "28013", "Gran Vía 28", "+34 91 555 ", "es-ES", 2},
	{"Stockholm", "Stockholm", "Sweden", "SE", "111 52", "Kungsgatan 30", "+46 8 555 ", "sv-SE", 2},
}

type genDept struct {
	name, division string
	weight         int
	titles         []string
}

// Departments in order of size; small tenants use a prefix of the list, so IT (which
// holds the administrators) comes early.
var genDepts = []genDept{
	{"Engineering", "Product & Technology", 22, []string{"Software Engineer", "Senior Software Engineer", "Staff Software Engineer", "Site Reliability Engineer", "Test Engineer", "Data Engineer", "DevOps Engineer"}},
	{"Sales", "Go To Market", 14, []string{"Account Executive", "Senior Account Executive", "Sales Development Representative", "Solutions Engineer", "Inside Sales Representative"}},
	{"IT", "Operations", 5, []string{"Systems Administrator", "Identity Engineer", "Service Desk Analyst", "Network Engineer", "Cloud Administrator", "Endpoint Engineer"}},
	{"Customer Support", "Customer Experience", 10, []string{"Support Engineer", "Customer Success Manager", "Support Specialist", "Escalation Engineer"}},
	{"Operations", "Operations", 8, []string{"Operations Analyst", "Supply Chain Specialist", "Logistics Coordinator", "Program Manager"}},
	{"Marketing", "Go To Market", 8, []string{"Marketing Specialist", "Content Strategist", "Product Marketing Manager", "Digital Marketing Analyst", "Brand Designer"}},
	{"Finance", "Corporate", 6, []string{"Financial Analyst", "Accountant", "Payroll Specialist", "Controller", "Accounts Payable Specialist"}},
	{"Research", "Product & Technology", 5, []string{"Research Scientist", "Data Scientist", "Applied Scientist", "Research Engineer"}},
	{"Human Resources", "Corporate", 4, []string{"HR Business Partner", "Recruiter", "People Operations Specialist", "Benefits Administrator"}},
	{"Product Management", "Product & Technology", 4, []string{"Product Manager", "Senior Product Manager", "UX Designer", "UX Researcher"}},
	{"Security", "Operations", 3, []string{"Security Analyst", "Security Engineer", "Incident Responder", "GRC Analyst"}},
	{"Legal", "Corporate", 2, []string{"Corporate Counsel", "Paralegal", "Contracts Manager", "Compliance Officer"}},
	{"Procurement", "Corporate", 2, []string{"Buyer", "Procurement Specialist", "Vendor Manager"}},
	{"Facilities", "Operations", 2, []string{"Facilities Coordinator", "Workplace Manager", "Office Administrator"}},
}

const genDeptIT = 2

var genTeamWords = []string{
	"Platform", "Payments", "Mobile", "Data", "Infrastructure", "Growth", "EMEA", "APAC", "Americas", "Enablement",
	"Analytics", "Tooling", "Quality", "Onboarding", "Partners", "Strategy", "Insights", "Core", "Web", "Identity",
	"Reliability", "Billing", "Search", "Retention", "Field", "Channel", "Compliance", "Automation", "Design", "Leadership",
}

var genAppAreas = []string{
	"HR", "Payroll", "Expense", "Travel", "Inventory", "CRM", "Ticketing", "Analytics", "Reporting", "Data Warehouse",
	"Billing", "Onboarding", "Learning", "Intranet", "Contracts", "Procurement", "Compliance", "Backup", "Monitoring", "Deployment",
	"Build", "Chat Bot", "Forms", "Scheduling", "Wiki", "Asset Tracker", "Visitor", "Recruiting", "Survey", "Document Signing",
}

var genAppEnvs = []string{"", "", "", " (Dev)", " (Test)", " (Staging)"}

// genUser is what later phases need to know about a user; the user's JSON is written
// once and not kept here.
type genUser struct {
	id     string
	raw    [16]byte
	first  uint16
	last   uint16
	dept   int8 // -1: none (break-glass accounts, guests, the chief executive)
	office int8
	class  uint8
	// enabled is false for the few disabled accounts.
	enabled bool
	created int64
}

const (
	genMember uint8 = iota
	genBreakGlass
	genGuest
	genExecutive
)

type genAppRole struct {
	id, value, display, description string
	user, app                       bool // allowedMemberTypes
}

type genApp struct {
	id, appID, spID string
	name, slug      string
	kind            int
	audience        string
	created         int64
	roles           []genAppRole
	scopeID         string // the api's access_as_user scope, "" when it exposes none
	uniqueName      string
	graphScopes     []int
	graphRoles      []int
	exchangeRole    int // index into genExchangeRoles, -1 for none
	apiScopeDeps    []int
	apiRoleDeps     []int // indices of apps whose application role this app holds
	knownClients    []int
	preAuthorized   []int
	assignRequired  bool
	spEnabled       bool
	homepage        string
	redirects       []string
	passwordCreds   int
	certCreds       int
	groupClaims     bool
	tags            []string
	description     string
	notes           string
	scopeType       string
}

const (
	genAppWeb = iota
	genAppAPI
	genAppDaemon
	genAppClient
	genAppSPA
)

type genGroupRef struct {
	id, name string
	unified  bool
}

type genRoleAssign struct {
	principal, role, scope string
}

// tenantGen holds the state of one Generate call.
type tenantGen struct {
	n       int
	seed    int64
	w       genWriter
	arena   genArena
	buckets map[entra.Kind][]Object
	links   []Link

	tenantID, org, domain, slug string
	tenantCreated               int64

	users       []genUser
	nDepts      int
	nOffices    int
	deptUsers   [][]int32
	officeUsers [][]int32
	regular     []int32 // department members: not break-glass, guests or the chief executive
	guests      []int32
	breakGlass  [2]int32
	ceo         int32
	admins      []int32 // global administrators other than the break-glass accounts
	itStaff     []int32
	stamp       []int32
	stampN      int32

	apps       []genApp
	firstSPs   []string // object ids of the first-party service principals
	workloadGr []string

	groups         []genGroupRef
	deptGroups     []string
	officeGroups   []string
	roleGroups     []string // role-assignable groups
	grpMFAExcluded string
	grpCAPilot     string
	grpFido2       string
	grpSMSBlocked  string
	grpTAP         string
	grpFinance     string
	nicknames      map[string]bool
	groupNames     map[string]int

	trustedIP      string
	vpnIP          string
	blockedCountry string
	allowedCountry string

	aus           []string
	customRoles   []string
	roleAssigned  map[genRoleAssign]bool
	appAssigned   map[[3]string]bool
	grantAssigned map[[4]string]bool
}

func newTenantGen(opts GenerateOptions) *tenantGen {
	return &tenantGen{
		n:             opts.Users,
		seed:          opts.Seed,
		buckets:       map[entra.Kind][]Object{},
		nicknames:     map[string]bool{},
		groupNames:    map[string]int{},
		roleAssigned:  map[genRoleAssign]bool{},
		appAssigned:   map[[3]string]bool{},
		grantAssigned: map[[4]string]bool{},
	}
}

// rng returns the random stream of one phase. Each phase has its own stream so that a
// change to how one kind is generated leaves every other kind's bytes as they were.
func (g *tenantGen) rng(phase uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.seed), 0x6c6966656c696e65^(phase*0x9e3779b97f4a7c15)))
}

// emit stores the object the writer holds.
func (g *tenantGen) emit(kind entra.Kind, id string) {
	g.buckets[kind] = append(g.buckets[kind], Object{Kind: kind, ID: id, JSON: g.arena.copy(g.w.b)})
}

func (g *tenantGen) link(fromKind entra.Kind, from, name string, toKind entra.Kind, to string) {
	g.links = append(g.links, Link{FromKind: fromKind, From: from, Name: name, ToKind: toKind, To: to})
}

func (g *tenantGen) dataset() *Dataset {
	total := 0
	for _, objs := range g.buckets {
		total += len(objs)
	}
	// The first kind's bucket (users, the bulk of a tenant) was sized for the whole
	// dataset, so the rest is appended to it instead of copying a million users.
	kinds := entra.Kinds()
	objects := g.buckets[kinds[0]]
	if cap(objects) < total {
		objects = append(make([]Object, 0, total), objects...)
	}
	for _, k := range kinds[1:] {
		objects = append(objects, g.buckets[k]...)
	}
	bg := []string{g.users[g.breakGlass[0]].id, g.users[g.breakGlass[1]].id}
	admins := append([]string(nil), bg...)
	for _, u := range g.admins {
		admins = append(admins, g.users[u].id)
	}
	return &Dataset{
		TenantID:    g.tenantID,
		Domain:      g.domain,
		DisplayName: g.org,
		Objects:     objects,
		Links:       g.links,
		BreakGlass:  bg,
		Admins:      admins,
	}
}

// ---- identifiers and time ----

func genGUIDBytes(r *rand.Rand) (b [16]byte) {
	binary.BigEndian.PutUint64(b[:8], r.Uint64())
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return b
}

const genHex = "0123456789abcdef"

func genAppendGUID(dst []byte, b [16]byte) []byte {
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, genHex[c>>4], genHex[c&0x0f])
	}
	return dst
}

func genGUID(r *rand.Rand) string {
	var buf [36]byte
	return string(genAppendGUID(buf[:0], genGUIDBytes(r)))
}

// genOpaqueID is an id of the form Graph gives app role assignments and grants: 43
// characters of base64url, not a GUID.
func genOpaqueID(r *rand.Rand) string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// genAppendSID writes the security identifier Entra derives from a cloud object's id:
// S-1-12-1 followed by the GUID's binary form read as four little-endian uint32s.
func genAppendSID(dst []byte, b [16]byte) []byte {
	dst = append(dst, "S-1-12-1-"...)
	d1 := binary.BigEndian.Uint32(b[0:4])
	d2 := uint32(binary.BigEndian.Uint16(b[4:6])) | uint32(binary.BigEndian.Uint16(b[6:8]))<<16
	d3 := binary.LittleEndian.Uint32(b[8:12])
	d4 := binary.LittleEndian.Uint32(b[12:16])
	dst = strconv.AppendUint(dst, uint64(d1), 10)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, uint64(d2), 10)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, uint64(d3), 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, uint64(d4), 10)
}

// genBetween returns a second in [lo, hi).
func genBetween(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo)
}

func genClamp(v, lo, hi int) int { return max(lo, min(hi, v)) }

// genSlug keeps the letters and digits of a name, accents folded, for mail nicknames
// and unique names. With sep 0 it keeps the case and drops everything else
// ("Sales London" -> "SalesLondon"); otherwise it lower-cases and joins words with sep.
func genSlug(s string, sep byte) string {
	out := make([]byte, 0, len(s))
	pendingSep := false
	add := func(c byte) {
		if pendingSep && sep != 0 {
			out = append(out, sep)
		}
		pendingSep = false
		if sep != 0 && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			add(byte(r))
		default:
			if f, ok := genFold[r]; ok {
				for i := 0; i < len(f); i++ {
					add(f[i])
				}
				continue
			}
			pendingSep = len(out) > 0
		}
	}
	return string(out)
}

func genWeighted[T any](r *rand.Rand, items []T, weight func(T) int, total int) int {
	x := r.IntN(total)
	for i, it := range items {
		x -= weight(it)
		if x < 0 {
			return i
		}
	}
	return len(items) - 1
}

// genSkewed draws a group size from a log-normal law: many small teams and a few large
// ones, as in real directories.
func genSkewed(r *rand.Rand, median float64, sigma float64, lo, hi int) int {
	v := int(math.Exp(math.Log(median) + r.NormFloat64()*sigma))
	return genClamp(v, lo, hi)
}

// sample picks k distinct members of list, in the order drawn.
func (g *tenantGen) sample(r *rand.Rand, list []int32, k int, out []int32) []int32 {
	out = out[:0]
	if k >= len(list) {
		return append(out, list...)
	}
	g.stampN++
	if g.stamp == nil {
		g.stamp = make([]int32, g.n)
	}
	if k*3 <= len(list) {
		for len(out) < k {
			u := list[r.IntN(len(list))]
			if g.stamp[u] != g.stampN {
				g.stamp[u] = g.stampN
				out = append(out, u)
			}
		}
		return out
	}
	tmp := append([]int32(nil), list...)
	for i := 0; i < k; i++ {
		j := i + r.IntN(len(tmp)-i)
		tmp[i], tmp[j] = tmp[j], tmp[i]
	}
	return append(out, tmp[:k]...)
}

func (g *tenantGen) displayName(u int32) string {
	us := &g.users[u]
	switch us.class {
	case genBreakGlass:
		if u == g.breakGlass[0] {
			return "Break Glass 1"
		}
		return "Break Glass 2"
	}
	return genFirstNames[us.first] + " " + genLastNames[us.last]
}

// ---- tenant ----

func (g *tenantGen) genTenant() {
	r := g.rng(1)
	g.tenantID = genGUID(r)
	g.org = genOrgNames[r.IntN(len(genOrgNames))]
	g.slug = strings.ToLower(genSlug(g.org, 0))
	g.domain = g.slug + strconv.FormatInt(g.seed, 10) + ".onmicrosoft.com"
	g.tenantCreated = genBase - genBetween(r, 3*365*genDay, 9*365*genDay)
	g.nDepts = genClamp(g.n/6, 3, len(genDepts))
	g.nOffices = genClamp(g.n/40, 2, len(genOffices))
}

// ---- users ----

func (g *tenantGen) genUsers() {
	r := g.rng(2)
	n := g.n
	g.users = make([]genUser, n)
	nGuests := 0
	if n >= 50 {
		nGuests = max(1, n/100)
	}
	deptTotal, officeTotal := 0, 0
	for _, d := range genDepts[:g.nDepts] {
		deptTotal += d.weight
	}
	for _, o := range genOffices[:g.nOffices] {
		officeTotal += o.weight
	}
	// Sized from what a generated tenant holds per user: about 1.1 objects and 5.5 links.
	g.buckets[entra.KindUser] = make([]Object, 0, n+n/8+1000)
	g.links = make([]Link, 0, n*6+1000)
	g.deptUsers = make([][]int32, g.nDepts)
	g.officeUsers = make([][]int32, g.nOffices)
	g.breakGlass = [2]int32{0, 1}
	g.ceo = 2
	ids := make([]byte, 0, n*36)
	span := genBase - 30*genDay - g.tenantCreated
	for i := range g.users {
		u := &g.users[i]
		u.raw = genGUIDBytes(r)
		ids = genAppendGUID(ids, u.raw)
		u.first = uint16(r.IntN(len(genFirstNames)))
		u.last = uint16(r.IntN(len(genLastNames)))
		u.enabled = r.IntN(50) != 0
		u.dept = -1
		u.office = int8(genWeighted(r, genOffices[:g.nOffices], func(o genOffice) int { return o.weight }, officeTotal))
		// Later hires are more numerous: the square root skews creation dates late.
		u.created = g.tenantCreated + int64(math.Sqrt(r.Float64())*float64(span))
		switch {
		case i < 2:
			u.class = genBreakGlass
			u.enabled = true
			u.office = 0
			u.created = g.tenantCreated + int64(i+1)*3600
		case i == 2:
			u.class = genExecutive
			u.enabled = true
			u.office = 0
			u.created = g.tenantCreated + 86400
		case i >= n-nGuests:
			u.class = genGuest
			g.guests = append(g.guests, int32(i))
		default:
			u.class = genMember
			u.dept = int8(genWeighted(r, genDepts[:g.nDepts], func(d genDept) int { return d.weight }, deptTotal))
			g.deptUsers[u.dept] = append(g.deptUsers[u.dept], int32(i))
			g.officeUsers[u.office] = append(g.officeUsers[u.office], int32(i))
			g.regular = append(g.regular, int32(i))
		}
	}
	all := string(ids)
	for i := range g.users {
		g.users[i].id = all[i*36 : (i+1)*36]
	}

	// Administrators: IT's leadership first, then anyone, until a handful hold the role.
	nAdmins := genClamp(3+n/100000, 3, 8)
	g.itStaff = g.deptUsers[genDeptIT]
	if len(g.itStaff) < 3 {
		g.itStaff = g.regular
	}
	for _, u := range g.itStaff {
		if len(g.admins) == nAdmins {
			break
		}
		g.admins = append(g.admins, u)
	}
	for _, u := range g.regular {
		if len(g.admins) == nAdmins {
			break
		}
		if !genContains(g.admins, u) {
			g.admins = append(g.admins, u)
		}
	}
	for _, u := range g.admins {
		g.users[u].enabled = true
	}

	g.writeUsers()
}

func genContains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// deptTree places a member in the department's reporting tree: each person manages the
// next eight, so the tree is a heap and has no cycles by construction.
const genSpan = 8

func genDeptLevel(pos int) int {
	level := 0
	for pos > 0 {
		pos = (pos - 1) / genSpan
		level++
	}
	return level
}

func (g *tenantGen) writeUsers() {
	r := g.rng(3)
	upnCount := make([]uint16, len(genFirstNames)*len(genLastNames))
	guestCount := make([]uint16, len(genFirstNames)*len(genLastNames))
	pos := make([]int32, g.n)
	for _, list := range g.deptUsers {
		for p, u := range list {
			pos[u] = int32(p)
		}
	}
	var local []byte
	for i := range g.users {
		u := &g.users[i]
		w := &g.w
		w.reset()
		local = local[:0]
		office := &genOffices[u.office]
		first, last := genFirstNames[u.first], genLastNames[u.last]
		var dept *genDept
		if u.dept >= 0 {
			dept = &genDepts[u.dept]
		}
		var external string
		switch u.class {
		case genBreakGlass:
			local = append(local, "breakglass"...)
			local = strconv.AppendInt(local, int64(i+1), 10)
		case genGuest:
			k := genFirstKey[u.first]*len(genLastNames) + genLastKey[u.last]
			guestCount[k]++
			ext := genGuestDomains[r.IntN(len(genGuestDomains))]
			e := genFirstASCII[u.first] + "." + genLastASCII[u.last]
			if guestCount[k] > 1 {
				e += strconv.Itoa(int(guestCount[k]))
			}
			external = e + "@" + ext
			local = append(local, e...)
			local = append(local, '_')
			local = append(local, ext...)
			local = append(local, "#EXT#"...)
		default:
			k := genFirstKey[u.first]*len(genLastNames) + genLastKey[u.last]
			upnCount[k]++
			local = append(local, genFirstASCII[u.first]...)
			local = append(local, '.')
			local = append(local, genLastASCII[u.last]...)
			if upnCount[k] > 1 {
				local = strconv.AppendInt(local, int64(upnCount[k]), 10)
			}
		}
		upn := string(local) + "@" + g.domain
		mail := upn
		if u.class == genGuest {
			mail = external
		}
		isPerson := u.class != genBreakGlass
		isStaff := u.class == genMember || u.class == genExecutive
		pwdChanged := genBetween(r, u.created, genBase)

		w.beginObj()
		w.kBool("accountEnabled", u.enabled)
		w.kNull("ageGroup")
		w.kArr("businessPhones")
		if isStaff && r.IntN(8) != 0 {
			w.elem()
			w.phone(office.phone, r)
		}
		w.endArr()
		w.kStrN("city", office.city, isStaff)
		w.kStrN("companyName", g.org, isStaff)
		w.kNull("consentProvidedForMinor")
		w.kStrN("country", office.country, isStaff)
		w.kTime("createdDateTime", u.created)
		if u.class == genGuest {
			w.kStr("creationType", "Invitation")
		} else {
			w.kNull("creationType")
		}
		w.kNull("deletedDateTime")
		switch {
		case dept != nil:
			w.kStr("department", dept.name)
		case u.class == genExecutive:
			w.kStr("department", "Executive")
		default:
			w.kNull("department")
		}
		w.key("displayName")
		if isPerson {
			w.b = append(w.b, '"')
			w.raw(first)
			w.b = append(w.b, ' ')
			w.raw(last)
			w.b = append(w.b, '"')
		} else {
			w.str(g.displayName(int32(i)))
		}
		if isStaff {
			w.kTime("employeeHireDate", (u.created-genBetween(r, 0, 30*genDay))/genDay*genDay)
			w.key("employeeId")
			w.b = append(w.b, '"')
			w.b = strconv.AppendInt(w.b, int64(1000000+i), 10)
			w.b = append(w.b, '"')
		} else {
			w.kNull("employeeHireDate")
			w.kNull("employeeId")
		}
		if dept != nil {
			w.kObj("employeeOrgData")
			w.key("costCenter")
			w.b = append(w.b, "\"CC-"...)
			w.b = strconv.AppendInt(w.b, int64(1000+100*int(u.dept)+int(u.office)), 10)
			w.b = append(w.b, '"')
			w.kStr("division", dept.division)
			w.endObj()
		} else {
			w.kNull("employeeOrgData")
		}
		switch {
		case !isStaff:
			w.kNull("employeeType")
		case r.IntN(12) == 0 && u.class == genMember:
			w.kStr("employeeType", "Contractor")
		default:
			w.kStr("employeeType", "Employee")
		}
		if u.class == genGuest {
			w.kStr("externalUserState", "Accepted")
			w.kTime("externalUserStateChangeDateTime", u.created+genBetween(r, 600, 7*genDay))
		} else {
			w.kNull("externalUserState")
			w.kNull("externalUserStateChangeDateTime")
		}
		w.kNull("faxNumber")
		w.kStrN("givenName", first, isPerson)
		w.key("id")
		w.str(u.id)
		w.kArr("identities")
		w.elem()
		w.beginObj()
		if u.class == genGuest {
			w.kStr("issuer", "ExternalAzureAD")
			w.kNull("issuerAssignedId")
			w.kStr("signInType", "federated")
		} else {
			w.kStr("issuer", g.domain)
			w.kStr("issuerAssignedId", upn)
			w.kStr("signInType", "userPrincipalName")
		}
		w.endObj()
		w.endArr()
		w.kArr("imAddresses")
		w.endArr()
		switch {
		case u.class == genExecutive:
			w.kStr("jobTitle", "Chief Executive Officer")
		case dept != nil:
			p := int(pos[i])
			size := len(g.deptUsers[u.dept])
			hasReports := p*genSpan+1 < size
			switch lvl := genDeptLevel(p); {
			case lvl == 0:
				w.kStr("jobTitle", "Vice President, "+dept.name)
			case lvl == 1 && hasReports:
				w.kStr("jobTitle", "Director, "+dept.name)
			case hasReports:
				w.kStr("jobTitle", dept.name+" Manager")
			default:
				w.kStr("jobTitle", dept.titles[r.IntN(len(dept.titles))])
			}
		default:
			w.kNull("jobTitle")
		}
		w.kTime("lastPasswordChangeDateTime", pwdChanged)
		w.kStr("mail", mail)
		w.kStr("mailNickname", upn[:strings.IndexByte(upn, '@')])
		if isStaff && r.IntN(5) < 3 {
			w.key("mobilePhone")
			w.phone(office.phone, r)
		} else {
			w.kNull("mobilePhone")
		}
		if isStaff {
			w.key("officeLocation")
			w.b = append(w.b, '"')
			w.b = strconv.AppendInt(w.b, int64(1+r.IntN(40)), 10)
			w.b = append(w.b, '/')
			w.b = strconv.AppendInt(w.b, int64(1000+r.IntN(3000)), 10)
			w.b = append(w.b, '"')
		} else {
			w.kNull("officeLocation")
		}
		w.kObj("onPremisesExtensionAttributes")
		w.b = append(w.b, genNullExtensionAttributes...)
		w.comma[len(w.comma)-1] = true
		w.endObj()
		w.kNull("onPremisesImmutableId")
		w.kNull("onPremisesLastSyncDateTime")
		w.kNull("onPremisesSyncEnabled")
		w.kArr("otherMails")
		w.endArr()
		if u.class == genBreakGlass {
			w.kStr("passwordPolicies", "DisablePasswordExpiration")
		} else {
			w.kNull("passwordPolicies")
		}
		w.kStrN("postalCode", office.postal, isStaff)
		w.kNull("preferredDataLocation")
		w.kStrN("preferredLanguage", office.lang, isPerson)
		w.kArr("proxyAddresses")
		w.elem()
		w.b = append(w.b, "\"SMTP:"...)
		w.raw(mail)
		w.b = append(w.b, '"')
		w.endArr()
		w.key("securityIdentifier")
		w.b = append(w.b, '"')
		w.b = genAppendSID(w.b, u.raw)
		w.b = append(w.b, '"')
		w.kTime("signInSessionsValidFromDateTime", pwdChanged)
		w.kStrN("state", office.state, isStaff)
		w.kStrN("streetAddress", office.street, isStaff)
		w.kStrN("surname", last, isPerson)
		w.kStr("usageLocation", office.code)
		w.kStr("userPrincipalName", upn)
		if u.class == genGuest {
			w.kStr("userType", "Guest")
		} else {
			w.kStr("userType", "Member")
		}
		w.endObj()
		g.emit(entra.KindUser, u.id)
	}

	// Managers: each department is a tree under its vice president, who reports to the
	// chief executive.
	ceo := g.users[g.ceo].id
	for _, list := range g.deptUsers {
		for p, u := range list {
			mgr := ceo
			if p > 0 {
				mgr = g.users[list[(p-1)/genSpan]].id
			}
			g.link(entra.KindUser, g.users[u].id, "manager", entra.KindUser, mgr)
		}
	}
}

var genNullExtensionAttributes = func() string {
	names := make([]string, 15)
	for i := range names {
		names[i] = "extensionAttribute" + strconv.Itoa(i+1)
	}
	// Sorted as strings, the way encoding/json sorts map keys: 1, 10..15, 2..9.
	genSortStrings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + n + `":null`)
	}
	return b.String()
}()

func genSortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// ---- groups ----

type genGroup struct {
	id                string
	raw               [16]byte
	name, description string
	unified, dynamic  bool
	roleAssignable    bool
	rule              string
	visibility        string
	classification    string
	nickname          string
	created           int64
}

func (g *tenantGen) newGroup(r *rand.Rand, name, description string, unified bool) *genGroup {
	if n := g.groupNames[name]; n > 0 {
		g.groupNames[name] = n + 1
		name += " " + strconv.Itoa(n+1)
	} else {
		g.groupNames[name] = 1
	}
	gr := &genGroup{name: name, description: description, unified: unified}
	gr.raw = genGUIDBytes(r)
	var buf [36]byte
	gr.id = string(genAppendGUID(buf[:0], gr.raw))
	nick := genSlug(name, 0)
	if len(nick) > 56 {
		nick = nick[:56]
	}
	if g.nicknames[nick] {
		for i := 2; ; i++ {
			c := nick + strconv.Itoa(i)
			if !g.nicknames[c] {
				nick = c
				break
			}
		}
	}
	g.nicknames[nick] = true
	gr.nickname = nick
	gr.created = genBetween(r, g.tenantCreated+genDay, genBase-genDay)
	if unified {
		gr.visibility = "Private"
		if r.IntN(3) == 0 {
			gr.visibility = "Public"
		}
	}
	return gr
}

func (g *tenantGen) writeGroup(gr *genGroup) {
	w := &g.w
	w.reset()
	w.beginObj()
	w.kStrN("classification", gr.classification, gr.classification != "")
	w.kTime("createdDateTime", gr.created)
	w.kNull("deletedDateTime")
	w.kStrN("description", gr.description, gr.description != "")
	w.kStr("displayName", gr.name)
	w.kNull("expirationDateTime")
	w.kArr("groupTypes")
	if gr.unified {
		w.elem()
		w.str("Unified")
	}
	if gr.dynamic {
		w.elem()
		w.str("DynamicMembership")
	}
	w.endArr()
	w.key("id")
	w.str(gr.id)
	if gr.roleAssignable {
		w.kBool("isAssignableToRole", true)
	} else {
		w.kNull("isAssignableToRole")
	}
	mail := gr.nickname + "@" + g.domain
	w.kStrN("mail", mail, gr.unified)
	w.kBool("mailEnabled", gr.unified)
	w.kStr("mailNickname", gr.nickname)
	w.kStrN("membershipRule", gr.rule, gr.dynamic)
	w.kStrN("membershipRuleProcessingState", "On", gr.dynamic)
	w.kNull("onPremisesSyncEnabled")
	w.kNull("preferredDataLocation")
	w.kArr("proxyAddresses")
	if gr.unified {
		w.elem()
		w.str("SMTP:" + mail)
	}
	w.endArr()
	w.kTime("renewedDateTime", gr.created)
	w.kBool("securityEnabled", !gr.unified)
	w.key("securityIdentifier")
	w.b = append(w.b, '"')
	w.b = genAppendSID(w.b, gr.raw)
	w.b = append(w.b, '"')
	w.kNull("theme")
	w.kStrN("visibility", gr.visibility, gr.visibility != "")
	w.endObj()
	g.emit(entra.KindGroup, gr.id)
	g.groups = append(g.groups, genGroupRef{id: gr.id, name: gr.name, unified: gr.unified})
}

func (g *tenantGen) members(gr *genGroup, users []int32) {
	for _, u := range users {
		g.link(entra.KindGroup, gr.id, "members", entra.KindUser, g.users[u].id)
	}
}

func (g *tenantGen) owners(kind entra.Kind, id string, users ...int32) {
	for _, u := range users {
		g.link(kind, id, "owners", entra.KindUser, g.users[u].id)
	}
}

func (g *tenantGen) pick(r *rand.Rand, list []int32) int32 {
	if len(list) == 0 {
		return g.admins[r.IntN(len(g.admins))]
	}
	return list[r.IntN(len(list))]
}

func (g *tenantGen) genGroups() {
	r := g.rng(4)
	var buf []int32
	target := max(8, g.n/20)
	owner := func() int32 { return g.pick(r, g.itStaff) }

	// Department groups follow the department attribute dynamically.
	for d := 0; d < g.nDepts; d++ {
		dept := genDepts[d]
		gr := g.newGroup(r, "All "+dept.name, "Everyone whose department is "+dept.name+".", false)
		gr.dynamic = true
		gr.rule = `(user.department -eq "` + dept.name + `")`
		g.writeGroup(gr)
		g.members(gr, g.deptUsers[d])
		g.owners(entra.KindGroup, gr.id, owner())
		g.deptGroups = append(g.deptGroups, gr.id)
		if dept.name == "Finance" {
			g.grpFinance = gr.id
		}
	}
	// Office groups are assigned by hand, as most tenants still do.
	for o := 0; o < g.nOffices; o++ {
		gr := g.newGroup(r, "Office - "+genOffices[o].city, "Staff based in the "+genOffices[o].city+" office.", false)
		g.writeGroup(gr)
		g.members(gr, g.officeUsers[o])
		g.owners(entra.KindGroup, gr.id, owner())
		g.officeGroups = append(g.officeGroups, gr.id)
	}
	// Licence groups: E3 or E5 for nearly everyone.
	e3 := g.newGroup(r, "License - Microsoft 365 E3", "Group-based licensing: Microsoft 365 E3.", false)
	e5 := g.newGroup(r, "License - Microsoft 365 E5", "Group-based licensing: Microsoft 365 E5.", false)
	var e3m, e5m []int32
	for _, u := range g.regular {
		switch x := r.IntN(20); {
		case x < 12:
			e3m = append(e3m, u)
		case x < 19:
			e5m = append(e5m, u)
		}
	}
	for _, lg := range []struct {
		gr *genGroup
		m  []int32
	}{{e3, e3m}, {e5, e5m}} {
		g.writeGroup(lg.gr)
		g.members(lg.gr, lg.m)
		g.owners(entra.KindGroup, lg.gr.id, owner())
	}
	if g.n >= 100 {
		gr := g.newGroup(r, "License - Visio Plan 2", "Group-based licensing: Visio Plan 2.", false)
		g.writeGroup(gr)
		g.members(gr, g.sample(r, g.regular, len(g.regular)/30, buf))
		g.owners(entra.KindGroup, gr.id, owner())
	}

	// Role-assignable groups: privileged access through a group is how mature tenants
	// grant roles, and a restore must recreate them with isAssignableToRole.
	for _, ra := range []struct{ name, desc string }{
		{"Tier 0 - Identity Operators", "Role-assignable: identity operations staff."},
		{"Helpdesk Operators", "Role-assignable: first-line support for password resets."},
		{"Security Operations", "Role-assignable: security operations centre analysts."},
	} {
		gr := g.newGroup(r, ra.name, ra.desc, false)
		gr.roleAssignable = true
		g.writeGroup(gr)
		g.members(gr, g.sample(r, g.itStaff, genClamp(len(g.itStaff)/10, 1, 12), buf))
		g.owners(entra.KindGroup, gr.id, g.admins[0])
		g.roleGroups = append(g.roleGroups, gr.id)
	}

	// Groups that Conditional Access and the authentication methods policy point at.
	special := []struct {
		name, desc string
		dst        *string
		pool       []int32
		size       int
	}{
		{"CA - MFA Exclusions", "Accounts excluded from the MFA policy while they enrol; review monthly.", &g.grpMFAExcluded, g.regular, genClamp(g.n/2000, 1, 25)},
		{"CA - Pilot Users", "Early adopters of new Conditional Access policies.", &g.grpCAPilot, g.itStaff, genClamp(len(g.itStaff)/5, 1, 50)},
		{"Auth - FIDO2 Security Keys", "Users issued FIDO2 security keys.", &g.grpFido2, g.itStaff, genClamp(len(g.itStaff)/3, 1, 200)},
		{"Auth - SMS Sign-in Blocked", "Users who may not use SMS as an authentication method.", &g.grpSMSBlocked, g.regular, genClamp(g.n/1000, 1, 100)},
		{"Auth - Temporary Access Pass", "Users allowed a Temporary Access Pass for onboarding.", &g.grpTAP, g.regular, genClamp(g.n/500, 1, 300)},
	}
	for _, s := range special {
		gr := g.newGroup(r, s.name, s.desc, false)
		g.writeGroup(gr)
		g.members(gr, g.sample(r, s.pool, s.size, buf))
		g.owners(entra.KindGroup, gr.id, g.admins[r.IntN(len(g.admins))])
		*s.dst = gr.id
	}
	if g.grpFinance == "" {
		g.grpFinance = g.deptGroups[0]
	}

	// A few Microsoft 365 groups follow department and city together.
	nDyn := genClamp(g.n/200, 1, 8)
	for i := 0; i < nDyn; i++ {
		d, o := r.IntN(g.nDepts), r.IntN(g.nOffices)
		dept, office := genDepts[d].name, genOffices[o].city
		gr := g.newGroup(r, dept+" "+office, dept+" colleagues in "+office+".", true)
		gr.dynamic = true
		gr.rule = `(user.department -eq "` + dept + `") and (user.city -eq "` + office + `")`
		g.writeGroup(gr)
		for _, u := range g.deptUsers[d] {
			if int(g.users[u].office) == o {
				g.link(entra.KindGroup, gr.id, "members", entra.KindUser, g.users[u].id)
			}
		}
		g.owners(entra.KindGroup, gr.id, g.pick(r, g.deptUsers[d]))
	}

	// Teams: the bulk of groups, small and skewed, mostly Microsoft 365 groups, drawn from
	// one department each. Security teams are nested under a per-department parent.
	nTeams := max(3, target-len(g.groups)-g.nDepts-1)
	secTeams := make([][]string, g.nDepts)
	var m365 []string
	for t := 0; t < nTeams; t++ {
		d := genWeighted(r, genDepts[:g.nDepts], func(d genDept) int { return d.weight }, g.deptWeight())
		pool := g.deptUsers[d]
		if len(pool) == 0 {
			pool = g.regular
		}
		unified := r.IntN(5) < 3
		name := genDepts[d].name + " " + genTeamWords[r.IntN(len(genTeamWords))]
		gr := g.newGroup(r, name, "", unified)
		if unified {
			gr.description = "Collaboration space for " + gr.name + "."
			if r.IntN(4) == 0 {
				gr.classification = "Confidential"
			} else {
				gr.classification = "General"
			}
		}
		g.writeGroup(gr)
		size := genSkewed(r, 14, 0.9, 2, min(len(pool), 5000))
		mem := g.sample(r, pool, size, buf)
		g.members(gr, mem)
		if unified {
			g.owners(entra.KindGroup, gr.id, mem[0])
			if len(mem) > 4 {
				g.owners(entra.KindGroup, gr.id, mem[1])
			}
			m365 = append(m365, gr.id)
		} else {
			if r.IntN(2) == 0 {
				g.owners(entra.KindGroup, gr.id, mem[0])
			}
			secTeams[d] = append(secTeams[d], gr.id)
		}
	}
	// Guests collaborate in Microsoft 365 groups.
	for _, u := range g.guests {
		if len(m365) > 0 {
			g.link(entra.KindGroup, m365[r.IntN(len(m365))], "members", entra.KindUser, g.users[u].id)
		}
	}
	var parents []string
	for d, teams := range secTeams {
		if len(teams) < 2 {
			continue
		}
		gr := g.newGroup(r, genDepts[d].name+" - All Teams", "Every security team of "+genDepts[d].name+" (nested).", false)
		g.writeGroup(gr)
		for _, t := range teams {
			g.link(entra.KindGroup, gr.id, "members", entra.KindGroup, t)
		}
		g.owners(entra.KindGroup, gr.id, g.pick(r, g.deptUsers[d]))
		parents = append(parents, gr.id)
	}
	if len(parents) >= 2 {
		gr := g.newGroup(r, "All Department Teams", "Every department's team group (nested two levels).", false)
		g.writeGroup(gr)
		for _, p := range parents {
			g.link(entra.KindGroup, gr.id, "members", entra.KindGroup, p)
		}
		g.owners(entra.KindGroup, gr.id, g.admins[0])
	}
}

func (g *tenantGen) deptWeight() int {
	t := 0
	for _, d := range genDepts[:g.nDepts] {
		t += d.weight
	}
	return t
}

// ---- applications and service principals ----

var genAppSuffixes = [...][]string{
	genAppWeb:    {"Portal", "Web", "Dashboard", "Self-Service"},
	genAppAPI:    {"API", "Service", "Gateway"},
	genAppDaemon: {"Sync", "Automation", "Connector", "Exporter", "Provisioning"},
	genAppClient: {"Desktop", "Mobile", "CLI"},
	genAppSPA:    {"App", "Console"},
}

var genUserRoles = []string{"Reader", "Contributor", "Approver", "Administrator", "Auditor"}

// genApplicationIDs plans every application before anything is written, because apps
// point at each other (required resources, pre-authorized clients) and groups hold
// their service principals.
func (g *tenantGen) genApplicationIDs() {
	r := g.rng(5)
	nApps := genClamp(g.n/200, 5, 5000)
	g.apps = make([]genApp, nApps)
	names := map[string]int{}
	uniq := map[string]bool{}
	var apis []int
	for i := range g.apps {
		a := &g.apps[i]
		a.id, a.appID, a.spID = genGUID(r), genGUID(r), genGUID(r)
		a.exchangeRole = -1
		a.spEnabled = r.IntN(40) != 0
		if i < 5 {
			a.kind = i
		} else {
			a.kind = []int{genAppWeb, genAppWeb, genAppWeb, genAppWeb, genAppWeb, genAppWeb, genAppWeb,
				genAppAPI, genAppAPI, genAppAPI, genAppAPI, genAppDaemon, genAppDaemon, genAppDaemon, genAppDaemon,
				genAppClient, genAppClient, genAppClient, genAppSPA, genAppSPA}[r.IntN(20)]
		}
		area := genAppAreas[r.IntN(len(genAppAreas))]
		suffixes := genAppSuffixes[a.kind]
		short := area + " " + suffixes[r.IntN(len(suffixes))] + genAppEnvs[r.IntN(len(genAppEnvs))]
		if n := names[short]; n > 0 {
			names[short] = n + 1
			short += " " + strconv.Itoa(n+1)
		} else {
			names[short] = 1
		}
		a.name = g.org + " " + short
		a.slug = genSlug(short, '-')
		a.audience = "AzureADMyOrg"
		if r.IntN(8) == 0 {
			a.audience = "AzureADMultipleOrgs"
		}
		a.created = genBetween(r, g.tenantCreated+30*genDay, genBase-genDay)
		host := "https://" + a.slug + "." + g.slug + ".com"
		areaKey := genSlug(area, 0)
		switch a.kind {
		case genAppWeb:
			a.homepage = host + "/"
			a.redirects = []string{host + "/signin-oidc"}
			if strings.Contains(short, "(Dev)") {
				a.redirects = append(a.redirects, "https://localhost:5001/signin-oidc")
			}
			a.graphScopes = []int{0, 1, 2, 3, 4}
			if r.IntN(3) == 0 {
				a.graphScopes = append(a.graphScopes, 5+r.IntN(len(genGraphScopes)-5))
			}
			if r.IntN(5) < 3 {
				start, k := r.IntN(len(genUserRoles)), 1+r.IntN(3)
				for j := 0; j < k; j++ {
					v := genUserRoles[(start+j)%len(genUserRoles)]
					a.roles = append(a.roles, genAppRole{id: genGUID(r), value: v, display: v, description: v + "s of " + short + ".", user: true})
				}
				a.assignRequired = r.IntN(10) < 7
			}
			a.passwordCreds = r.IntN(2)
			a.groupClaims = r.IntN(4) == 0
		case genAppAPI:
			a.scopeID = genGUID(r)
			a.scopeType = "User"
			if r.IntN(3) == 0 {
				a.scopeType = "Admin"
			}
			a.roles = []genAppRole{
				{id: genGUID(r), value: areaKey + ".Read.All", display: "Read all " + area + " data", description: "Allows the app to read all " + area + " data without a signed-in user.", app: true},
				{id: genGUID(r), value: areaKey + ".ReadWrite.All", display: "Read and write all " + area + " data", description: "Allows the app to read and write all " + area + " data without a signed-in user.", app: true},
			}
			if r.IntN(2) == 0 {
				a.roles = append(a.roles, genAppRole{id: genGUID(r), value: "Administrator", display: "Administrator", description: "Administrators of " + short + ".", user: true, app: true})
			}
			a.graphScopes = []int{4}
			apis = append(apis, i)
		case genAppDaemon:
			k := 1 + r.IntN(3)
			start := r.IntN(len(genGraphRoles))
			for j := 0; j < k; j++ {
				a.graphRoles = append(a.graphRoles, (start+j)%len(genGraphRoles))
			}
			if r.IntN(4) == 0 {
				a.exchangeRole = r.IntN(len(genExchangeRoles))
			}
			if r.IntN(10) < 7 {
				a.certCreds = 1
			} else {
				a.passwordCreds = 1 + r.IntN(2)
			}
		case genAppClient:
			a.graphScopes = []int{0, 1, 3, 4}
		case genAppSPA:
			a.homepage = host + "/"
			a.redirects = []string{host + "/"}
			a.graphScopes = []int{0, 1, 4}
		}
		if a.kind != genAppDaemon && r.IntN(10) == 0 {
			a.certCreds = 1
		}
		if r.IntN(5) < 2 {
			u := a.slug
			for j := 2; uniq[u]; j++ {
				u = a.slug + "-" + strconv.Itoa(j)
			}
			uniq[u] = true
			a.uniqueName = u
		}
		if r.IntN(4) == 0 {
			a.tags = []string{[]string{"HR", "Finance", "Internal", "Production", "Pilot"}[r.IntN(5)]}
		}
		if r.IntN(3) == 0 {
			a.description = "Line-of-business application: " + short + "."
		}
		if r.IntN(10) == 0 {
			a.notes = "Owned by the " + genDepts[r.IntN(g.nDepts)].name + " team; contact the owners before changing permissions."
		}
	}
	// Clients call the tenant's own APIs, delegated or as themselves.
	for i := range g.apps {
		a := &g.apps[i]
		switch a.kind {
		case genAppClient, genAppSPA, genAppWeb:
			if a.kind == genAppWeb && r.IntN(3) != 0 {
				continue
			}
			api := apis[r.IntN(len(apis))]
			if i == genAppClient {
				api = genAppAPI // the first client calls the first API, pre-authorized
			}
			if api == i {
				continue
			}
			a.apiScopeDeps = append(a.apiScopeDeps, api)
			if i == genAppClient || r.IntN(2) == 0 {
				t := &g.apps[api]
				t.preAuthorized = append(t.preAuthorized, i)
				if len(t.knownClients) == 0 && (i == genAppClient || r.IntN(2) == 0) {
					t.knownClients = append(t.knownClients, i)
				}
			}
		case genAppDaemon:
			if r.IntN(3) == 0 {
				a.apiRoleDeps = append(a.apiRoleDeps, apis[r.IntN(len(apis))])
			}
		}
	}
}

func (g *tenantGen) writeRole(role genAppRole) {
	w := &g.w
	w.elem()
	w.beginObj()
	w.kArr("allowedMemberTypes")
	if role.app {
		w.elem()
		w.str("Application")
	}
	if role.user {
		w.elem()
		w.str("User")
	}
	w.endArr()
	w.kStr("description", role.description)
	w.kStr("displayName", role.display)
	w.kStr("id", role.id)
	w.kBool("isEnabled", true)
	w.kStr("origin", "Application")
	w.kStr("value", role.value)
	w.endObj()
}

func (g *tenantGen) writeScope(id, value, display, typ string) {
	w := &g.w
	w.elem()
	w.beginObj()
	w.kStr("adminConsentDescription", "Allows the app to "+strings.ToLower(display[:1])+display[1:]+" on behalf of the signed-in user.")
	w.kStr("adminConsentDisplayName", display)
	w.kStr("id", id)
	w.kBool("isEnabled", true)
	w.kStr("type", typ)
	w.kStr("userConsentDescription", "Allows the app to "+strings.ToLower(display[:1])+display[1:]+" on your behalf.")
	w.kStr("userConsentDisplayName", display)
	w.kStr("value", value)
	w.endObj()
}

func (g *tenantGen) writeAppScopes(a *genApp) {
	if a.scopeID != "" {
		g.writeScope(a.scopeID, "access_as_user", "Access "+a.name, a.scopeType)
	}
}

func (g *tenantGen) writeCredentials(r *rand.Rand, a *genApp) {
	w := &g.w
	w.kArr("keyCredentials")
	for i := 0; i < a.certCreds; i++ {
		start := genBetween(r, a.created, genBase)
		w.elem()
		w.beginObj()
		w.key("customKeyIdentifier")
		w.b = append(w.b, '"')
		for j := 0; j < 20; j++ {
			c := byte(r.UintN(256))
			w.b = append(w.b, "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0x0f])
		}
		w.b = append(w.b, '"')
		w.kStr("displayName", "CN="+a.slug)
		w.kTime("endDateTime", start+365*genDay)
		w.kNull("key")
		w.kStr("keyId", genGUID(r))
		w.kTime("startDateTime", start)
		w.kStr("type", "AsymmetricX509Cert")
		w.kStr("usage", "Verify")
		w.endObj()
	}
	w.endArr()
}

func (g *tenantGen) writePasswords(r *rand.Rand, a *genApp) {
	w := &g.w
	w.kArr("passwordCredentials")
	const hintChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"
	for i := 0; i < a.passwordCreds; i++ {
		start := genBetween(r, a.created, genBase)
		w.elem()
		w.beginObj()
		w.kNull("customKeyIdentifier")
		w.kStr("displayName", []string{"Production secret", "CI pipeline", "Rotation " + time.Unix(start, 0).UTC().Format("2006-01"), "Key vault"}[r.IntN(4)])
		w.kTime("endDateTime", start+int64([]int{180, 365, 730}[r.IntN(3)])*genDay)
		w.key("hint")
		w.b = append(w.b, '"', hintChars[r.IntN(len(hintChars))], hintChars[r.IntN(len(hintChars))], hintChars[r.IntN(len(hintChars))], '"')
		w.kStr("keyId", genGUID(r))
		w.kNull("secretText")
		w.kTime("startDateTime", start)
		w.endObj()
	}
	w.endArr()
}

func (g *tenantGen) genApplications() {
	r := g.rng(6)
	w := &g.w
	var engineers []int32
	engineers = append(engineers, g.itStaff...)
	if len(g.deptUsers[0]) > 0 {
		engineers = append(engineers, g.deptUsers[0]...)
	}
	for i := range g.apps {
		a := &g.apps[i]
		w.reset()
		w.beginObj()
		w.kObj("api")
		w.kNull("acceptMappedClaims")
		w.kArr("knownClientApplications")
		for _, c := range a.knownClients {
			w.elem()
			w.str(g.apps[c].appID)
		}
		w.endArr()
		w.kArr("oauth2PermissionScopes")
		g.writeAppScopes(a)
		w.endArr()
		w.kArr("preAuthorizedApplications")
		for _, c := range a.preAuthorized {
			w.elem()
			w.beginObj()
			w.kStr("appId", g.apps[c].appID)
			w.kArr("delegatedPermissionIds")
			w.elem()
			w.str(a.scopeID)
			w.endArr()
			w.endObj()
		}
		w.endArr()
		if a.kind == genAppAPI {
			w.kInt("requestedAccessTokenVersion", 2)
		} else {
			w.kNull("requestedAccessTokenVersion")
		}
		w.endObj()
		w.kStr("appId", a.appID)
		w.kArr("appRoles")
		for _, role := range a.roles {
			g.writeRole(role)
		}
		w.endArr()
		w.kTime("createdDateTime", a.created)
		w.kNull("deletedDateTime")
		w.kStrN("description", a.description, a.description != "")
		w.kNull("disabledByMicrosoftStatus")
		w.kStr("displayName", a.name)
		w.kStrN("groupMembershipClaims", "SecurityGroup", a.groupClaims)
		w.kStr("id", a.id)
		w.kArr("identifierUris")
		if a.kind == genAppAPI {
			w.elem()
			w.str("api://" + a.appID)
		}
		w.endArr()
		w.kObj("info")
		w.kNull("logoUrl")
		w.kNull("marketingUrl")
		w.kNull("privacyStatementUrl")
		w.kNull("supportUrl")
		w.kNull("termsOfServiceUrl")
		w.endObj()
		if a.kind == genAppClient {
			w.kBool("isFallbackPublicClient", true)
		} else {
			w.kNull("isFallbackPublicClient")
		}
		g.writeCredentials(r, a)
		w.kStrN("notes", a.notes, a.notes != "")
		w.kNull("optionalClaims")
		w.kObj("parentalControlSettings")
		w.kArr("countriesBlockedForMinors")
		w.endArr()
		w.kStr("legalAgeGroupRule", "Allow")
		w.endObj()
		g.writePasswords(r, a)
		w.kObj("publicClient")
		w.kArr("redirectUris")
		if a.kind == genAppClient {
			w.elem()
			w.str("http://localhost")
			w.elem()
			w.str("https://login.microsoftonline.com/common/oauth2/nativeclient")
		}
		w.endArr()
		w.endObj()
		w.kStr("publisherDomain", g.domain)
		w.kArr("requiredResourceAccess")
		if len(a.graphScopes)+len(a.graphRoles) > 0 {
			w.elem()
			w.beginObj()
			w.kArr("resourceAccess")
			for _, s := range a.graphScopes {
				g.writeAccess(genGraphScopes[s].id, "Scope")
			}
			for _, s := range a.graphRoles {
				g.writeAccess(genGraphRoles[s].id, "Role")
			}
			w.endArr()
			w.kStr("resourceAppId", genGraphAppID)
			w.endObj()
		}
		if a.exchangeRole >= 0 {
			w.elem()
			w.beginObj()
			w.kArr("resourceAccess")
			g.writeAccess(genExchangeRoles[a.exchangeRole].id, "Role")
			w.endArr()
			w.kStr("resourceAppId", genExchangeAppID)
			w.endObj()
		}
		for _, d := range a.apiScopeDeps {
			w.elem()
			w.beginObj()
			w.kArr("resourceAccess")
			g.writeAccess(g.apps[d].scopeID, "Scope")
			w.endArr()
			w.kStr("resourceAppId", g.apps[d].appID)
			w.endObj()
		}
		for _, d := range a.apiRoleDeps {
			w.elem()
			w.beginObj()
			w.kArr("resourceAccess")
			g.writeAccess(g.apps[d].roles[0].id, "Role")
			w.endArr()
			w.kStr("resourceAppId", g.apps[d].appID)
			w.endObj()
		}
		w.endArr()
		w.kNull("serviceManagementReference")
		w.kStr("signInAudience", a.audience)
		w.kObj("spa")
		w.kArr("redirectUris")
		if a.kind == genAppSPA {
			for _, u := range a.redirects {
				w.elem()
				w.str(u)
			}
		}
		w.endArr()
		w.endObj()
		w.kStrs("tags", a.tags...)
		w.kNull("tokenEncryptionKeyId")
		w.kStrN("uniqueName", a.uniqueName, a.uniqueName != "")
		w.kObj("web")
		w.kStrN("homePageUrl", a.homepage, a.kind == genAppWeb)
		w.kObj("implicitGrantSettings")
		w.kBool("enableAccessTokenIssuance", false)
		w.kBool("enableIdTokenIssuance", a.kind == genAppWeb && r.IntN(4) == 0)
		w.endObj()
		w.kNull("logoutUrl")
		w.kArr("redirectUriSettings")
		if a.kind == genAppWeb {
			for _, u := range a.redirects {
				w.elem()
				w.beginObj()
				w.kNull("index")
				w.kStr("uri", u)
				w.endObj()
			}
		}
		w.endArr()
		w.kArr("redirectUris")
		if a.kind == genAppWeb {
			for _, u := range a.redirects {
				w.elem()
				w.str(u)
			}
		}
		w.endArr()
		w.endObj()
		w.endObj()
		g.emit(entra.KindApplication, a.id)
		if r.IntN(10) != 0 {
			g.owners(entra.KindApplication, a.id, g.pick(r, engineers))
			if r.IntN(3) == 0 {
				g.owners(entra.KindApplication, a.id, g.pick(r, engineers))
			}
		}
	}

	// Each application's service principal, then the first-party ones every tenant has.
	for i := range g.apps {
		a := &g.apps[i]
		names := []string{a.appID}
		if a.kind == genAppAPI {
			names = append(names, "api://"+a.appID)
		}
		// The portal tags every service principal of an app registered in the tenant.
		tags := []string{"WindowsAzureActiveDirectoryIntegratedApp"}
		g.writeSP(genSPWrite{
			id: a.spID, appID: a.appID, name: a.name, owner: g.tenantID, enabled: a.spEnabled,
			assignRequired: a.assignRequired, audience: a.audience, homepage: a.homepage,
			replyURLs: a.redirects, names: names, tags: tags,
			roles: func() {
				for _, role := range a.roles {
					g.writeRole(role)
				}
			},
			scopes: func() { g.writeAppScopes(a) },
		})
		if r.IntN(10) < 3 {
			g.owners(entra.KindServicePrincipal, a.spID, g.pick(r, engineers))
		}
	}
	for _, fp := range genFirstParties {
		id := genGUID(r)
		g.firstSPs = append(g.firstSPs, id)
		g.writeSP(genSPWrite{
			id: id, appID: fp.appID, name: fp.name, owner: genMicrosoftTenant, enabled: true,
			audience: "AzureADMultipleOrgs", names: fp.names,
			roles: func() {
				for _, p := range fp.roles {
					g.writeRole(genAppRole{id: p.id, value: p.value, display: p.display, description: "Allows the app to " + strings.ToLower(p.display[:1]) + p.display[1:] + " without a signed-in user.", app: true})
				}
			},
			scopes: func() {
				for _, p := range fp.scopes {
					typ := "User"
					if p.admin {
						typ = "Admin"
					}
					g.writeScope(p.id, p.value, p.display, typ)
				}
			},
		})
	}

	// Workload identities grouped for Conditional Access and access reviews.
	var daemons, clients []string
	for i := range g.apps {
		switch g.apps[i].kind {
		case genAppDaemon, genAppAPI:
			daemons = append(daemons, g.apps[i].spID)
		default:
			clients = append(clients, g.apps[i].spID)
		}
	}
	for _, wg := range []struct {
		name string
		sps  []string
	}{{"Workload Identities - Automation", daemons}, {"Workload Identities - Integrations", clients}} {
		gr := g.newGroup(r, wg.name, "Service principals reviewed quarterly by IT.", false)
		g.writeGroup(gr)
		for j, sp := range wg.sps {
			if j == 200 {
				break
			}
			g.link(entra.KindGroup, gr.id, "members", entra.KindServicePrincipal, sp)
		}
		g.owners(entra.KindGroup, gr.id, g.admins[0])
		g.workloadGr = append(g.workloadGr, gr.id)
	}
}

func (g *tenantGen) writeAccess(id, typ string) {
	w := &g.w
	w.elem()
	w.beginObj()
	w.kStr("id", id)
	w.kStr("type", typ)
	w.endObj()
}

type genSPWrite struct {
	id, appID, name, owner string
	enabled                bool
	assignRequired         bool
	audience, homepage     string
	replyURLs, names, tags []string
	roles, scopes          func()
}

func (g *tenantGen) writeSP(s genSPWrite) {
	w := &g.w
	w.reset()
	w.beginObj()
	w.kBool("accountEnabled", s.enabled)
	w.kStr("appDisplayName", s.name)
	w.kStr("appId", s.appID)
	w.kStr("appOwnerOrganizationId", s.owner)
	w.kBool("appRoleAssignmentRequired", s.assignRequired)
	w.kArr("appRoles")
	s.roles()
	w.endArr()
	w.kNull("deletedDateTime")
	w.kNull("description")
	w.kStr("displayName", s.name)
	w.kStrN("homepage", s.homepage, s.homepage != "")
	w.kStr("id", s.id)
	w.kArr("keyCredentials")
	w.endArr()
	w.kNull("loginUrl")
	w.kNull("logoutUrl")
	w.kNull("notes")
	w.kArr("notificationEmailAddresses")
	w.endArr()
	w.kArr("oauth2PermissionScopes")
	s.scopes()
	w.endArr()
	w.kArr("passwordCredentials")
	w.endArr()
	w.kNull("preferredSingleSignOnMode")
	w.kNull("preferredTokenSigningKeyThumbprint")
	w.kStrs("replyUrls", s.replyURLs...)
	w.kNull("samlSingleSignOnSettings")
	w.kStrs("servicePrincipalNames", s.names...)
	w.kStr("servicePrincipalType", "Application")
	w.kStr("signInAudience", s.audience)
	w.kStrs("tags", s.tags...)
	w.endObj()
	g.emit(entra.KindServicePrincipal, s.id)
}

// ---- named locations ----

func (g *tenantGen) genNamedLocations() {
	r := g.rng(7)
	count := genClamp(3+int(math.Log10(float64(g.n))), 4, 12)
	hq := genOffices[0]
	ipv4 := func(prefix int) string {
		a := []int{20, 40, 52, 64, 80, 98, 104, 131, 137, 148, 155, 157, 163, 185, 193, 203}[r.IntN(16)]
		b, c := r.IntN(256), r.IntN(256)
		s := strconv.Itoa(a) + "." + strconv.Itoa(b) + "." + strconv.Itoa(c) + "."
		if prefix >= 25 {
			step := 1 << (32 - prefix)
			return s + strconv.Itoa(r.IntN(256/step)*step) + "/" + strconv.Itoa(prefix)
		}
		return s + "0/24"
	}
	ipv6 := func() string { return "2001:db8:" + strconv.FormatInt(int64(r.IntN(0x10000)), 16) + "::/48" }
	type loc struct {
		name    string
		country bool
		trusted bool
		v4, v6  int
		codes   []string
		unknown bool
		dst     *string
	}
	var allowed []string
	seen := map[string]bool{}
	for _, o := range genOffices[:g.nOffices] {
		if !seen[o.code] {
			seen[o.code] = true
			allowed = append(allowed, o.code)
		}
	}
	locs := []loc{
		{name: "Headquarters - " + hq.city, trusted: true, v4: 2, v6: 1, dst: &g.trustedIP},
		{name: "Blocked countries", country: true, codes: []string{"KP", "IR", "SY", "CU"}, dst: &g.blockedCountry},
		{name: "Corporate VPN egress", trusted: true, v4: 3, dst: &g.vpnIP},
		{name: "Countries with offices", country: true, codes: allowed, dst: &g.allowedCountry},
	}
	for o := 1; o < g.nOffices && len(locs) < count-2; o++ {
		locs = append(locs, loc{name: "Branch office - " + genOffices[o].city, trusted: true, v4: 1 + r.IntN(2)})
	}
	locs = append(locs, loc{name: "Partner network - Fabrikam", v4: 2})
	locs = append(locs, loc{name: "Known anonymizer ranges", v4: 4, v6: 1})
	locs = append(locs, loc{name: "Travel countries (unknown allowed)", country: true, codes: []string{"MX", "PT", "IT", "TH"}, unknown: true})
	if len(locs) > count {
		locs = locs[:count]
	}
	w := &g.w
	for _, l := range locs {
		id := genGUID(r)
		created := genBetween(r, g.tenantCreated+30*genDay, genBase-10*genDay)
		w.reset()
		w.beginObj()
		if l.country {
			w.kStr("@odata.type", entra.CountryNamedLocationType)
			w.kStrs("countriesAndRegions", l.codes...)
			w.kStr("countryLookupMethod", "clientIpAddress")
			w.kTime("createdDateTime", created)
			w.kStr("displayName", l.name)
			w.kStr("id", id)
			w.kBool("includeUnknownCountriesAndRegions", l.unknown)
			w.kTime("modifiedDateTime", genBetween(r, created, genBase))
		} else {
			w.kStr("@odata.type", entra.IPNamedLocationType)
			w.kTime("createdDateTime", created)
			w.kStr("displayName", l.name)
			w.kStr("id", id)
			w.kArr("ipRanges")
			for i := 0; i < l.v4; i++ {
				w.elem()
				w.beginObj()
				w.kStr("@odata.type", entra.IPv4RangeType)
				w.kStr("cidrAddress", ipv4([]int{24, 27, 28, 29}[r.IntN(4)]))
				w.endObj()
			}
			for i := 0; i < l.v6; i++ {
				w.elem()
				w.beginObj()
				w.kStr("@odata.type", entra.IPv6RangeType)
				w.kStr("cidrAddress", ipv6())
				w.endObj()
			}
			w.endArr()
			w.kBool("isTrusted", l.trusted)
			w.kTime("modifiedDateTime", genBetween(r, created, genBase))
		}
		w.endObj()
		g.emit(entra.KindNamedLocation, id)
		if l.dst != nil {
			*l.dst = id
		}
	}
}

// ---- administrative units ----

func (g *tenantGen) genAdministrativeUnits() {
	r := g.rng(8)
	count := genClamp(g.n/2000, 2, 500)
	w := &g.w
	names := map[string]bool{}
	var buf []int32
	for i := 0; i < count; i++ {
		id := genGUID(r)
		var name, desc, rule, visibility string
		restricted := false
		var members []int32
		var groupMembers []string
		nDynamic := min(3, g.nOffices)
		switch {
		case i == 0:
			name, desc = "Restricted - Executives", "Leadership accounts; only privileged role administrators may manage them."
			restricted, visibility = true, "HiddenMembership"
			members = append(members, g.ceo)
			for _, list := range g.deptUsers {
				if len(list) > 0 {
					members = append(members, list[0])
				}
			}
		case i <= nDynamic:
			o := genOffices[i-1]
			name, desc = "Region - "+o.city, "Everyone whose city is "+o.city+" (dynamic)."
			rule = `(user.city -eq "` + o.city + `")`
			members = g.officeUsers[i-1]
		default:
			d, o := r.IntN(g.nDepts), r.IntN(g.nOffices)
			name = genDepts[d].name + " " + genOffices[o].city
			for j := 2; names[name]; j++ {
				name = genDepts[d].name + " " + genOffices[o].city + " " + strconv.Itoa(j)
			}
			desc = "Delegated administration for " + genDepts[d].name + " in " + genOffices[o].city + "."
			members = g.sample(r, g.deptUsers[d], genSkewed(r, 40, 1.0, 1, 5000), buf)
			for k := r.IntN(3); k > 0; k-- {
				groupMembers = append(groupMembers, g.groups[r.IntN(len(g.groups))].id)
			}
		}
		names[name] = true
		w.reset()
		w.beginObj()
		w.kNull("deletedDateTime")
		w.kStr("description", desc)
		w.kStr("displayName", name)
		w.kStr("id", id)
		if restricted {
			w.kBool("isMemberManagementRestricted", true)
		} else {
			w.kNull("isMemberManagementRestricted")
		}
		w.kStrN("membershipRule", rule, rule != "")
		w.kStrN("membershipRuleProcessingState", "On", rule != "")
		if rule != "" {
			w.kStr("membershipType", "Dynamic")
		} else {
			w.kStr("membershipType", "Assigned")
		}
		w.kStrN("visibility", visibility, visibility != "")
		w.endObj()
		g.emit(entra.KindAdministrativeUnit, id)
		for _, u := range members {
			g.link(entra.KindAdministrativeUnit, id, "members", entra.KindUser, g.users[u].id)
		}
		seenGroup := map[string]bool{}
		for _, gid := range groupMembers {
			if !seenGroup[gid] {
				seenGroup[gid] = true
				g.link(entra.KindAdministrativeUnit, id, "members", entra.KindGroup, gid)
			}
		}
		g.aus = append(g.aus, id)
	}
}

// ---- role definitions ----

func (g *tenantGen) writeRoleDefinition(id, name, description string, builtIn bool, actions []string) {
	w := &g.w
	w.reset()
	w.beginObj()
	w.kStr("description", description)
	w.kStr("displayName", name)
	w.kStr("id", id)
	w.kBool("isBuiltIn", builtIn)
	w.kBool("isEnabled", true)
	w.kStrs("resourceScopes", "/")
	w.kArr("rolePermissions")
	w.elem()
	w.beginObj()
	w.kStrs("allowedResourceActions", actions...)
	w.kNull("condition")
	w.kArr("excludedResourceActions")
	w.endArr()
	w.endObj()
	w.endArr()
	w.kStr("templateId", id)
	w.kStrN("version", "1", builtIn)
	w.endObj()
	g.emit(entra.KindRoleDefinition, id)
}

func (g *tenantGen) genRoleDefinitions() {
	r := g.rng(9)
	for _, role := range genBuiltinRoles {
		g.writeRoleDefinition(role.id, role.name, role.description, true, role.actions)
	}
	customs := []struct {
		name, desc string
		actions    []string
	}{
		{"App Secret Rotator", "Rotates application credentials; nothing else.", []string{"microsoft.directory/applications/credentials/update", "microsoft.directory/applications/standard/read"}},
		{"Group Membership Manager", "Manages members of security groups delegated to regional IT.", []string{"microsoft.directory/groups/members/update", "microsoft.directory/groups/standard/read"}},
		{"User Profile Editor", "Updates job titles, departments and office locations from the HR system.", []string{"microsoft.directory/users/basic/update", "microsoft.directory/users/jobInfo/update", "microsoft.directory/users/standard/read"}},
	}
	if g.n >= 10000 {
		customs = append(customs, struct {
			name, desc string
			actions    []string
		}{"Guest Inviter Plus", "Invites guests and resets their redemption status.", []string{"microsoft.directory/users/inviteGuest", "microsoft.directory/users/reprocessInvitation"}})
	}
	for _, c := range customs {
		id := genGUID(r)
		g.writeRoleDefinition(id, g.org+" "+c.name, c.desc, false, c.actions)
		g.customRoles = append(g.customRoles, id)
	}
}

// ---- conditional access ----

// genCAPolicy is one policy's targets. Excluded users are not among them: every policy
// excludes the break-glass accounts, and only them, as Microsoft recommends.
type genCAPolicy struct {
	name, state                     string
	includeUsers                    []string
	includeGroups, excludeGroups    []string
	includeRoles, excludeRoles      []string
	includeApps, excludeApps        []string
	userActions                     []string
	clientAppTypes                  []string
	includeSPs                      []string
	includeLocations, excludeLocs   []string
	includePlatforms, excludePlatfs []string
	signInRisk, userRisk            []string
	operator                        string
	controls                        []string
	signInFrequencyHours            int
}

func (g *tenantGen) genConditionalAccess() {
	r := g.rng(10)
	count := genClamp(6+int(math.Log2(float64(g.n)/10)), 6, 20)
	adminRoles := []string{genRoleGlobalAdmin, genRolePrivilegedRole, genRoleUserAdmin, genRoleGroupsAdmin, genRoleAppAdmin, genRoleCloudAppAdmin, genRoleCAAdmin, genRoleSecurityAdmin, genRoleHelpdeskAdmin, genRoleAuthAdmin, genRoleExchangeAdmin}
	all := []string{"All"}
	app := func(kind int) *genApp {
		for i := range g.apps {
			if g.apps[i].kind == kind {
				return &g.apps[i]
			}
		}
		return &g.apps[0]
	}
	randomUsers := func(k int) []string {
		var out []string
		for _, u := range g.sample(r, g.regular, k, nil) {
			out = append(out, g.users[u].id)
		}
		return out
	}
	var daemonSPs []string
	for i := range g.apps {
		if g.apps[i].kind == genAppDaemon && len(daemonSPs) < 5 {
			daemonSPs = append(daemonSPs, g.apps[i].spID)
		}
	}
	web, api := app(genAppWeb), app(genAppAPI)
	policies := []genCAPolicy{
		{name: "Require MFA for administrators", state: "enabled", includeRoles: adminRoles, includeApps: all, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}},
		{name: "Block legacy authentication", state: "enabled", includeUsers: all, includeApps: all, clientAppTypes: []string{"exchangeActiveSync", "other"}, operator: "OR", controls: []string{"block"}},
		{name: "Require MFA outside trusted locations", state: "enabled", includeUsers: all, excludeGroups: []string{g.grpMFAExcluded}, includeApps: all, clientAppTypes: all, includeLocations: all, excludeLocs: []string{g.trustedIP, "AllTrusted"}, operator: "OR", controls: []string{"mfa"}},
		{name: "Block sign-ins from restricted countries", state: "enabled", includeUsers: all, includeApps: all, clientAppTypes: all, includeLocations: []string{g.blockedCountry}, operator: "OR", controls: []string{"block"}},
		{name: "Require compliant device for " + web.name, state: "enabledForReportingButNotEnforced", includeGroups: []string{g.deptGroups[0], g.officeGroups[0]}, includeApps: []string{web.appID}, clientAppTypes: all, operator: "OR", controls: []string{"compliantDevice", "domainJoinedDevice"}},
		{name: "Block specific accounts under investigation", state: "disabled", includeUsers: randomUsers(2), includeApps: all, clientAppTypes: all, operator: "OR", controls: []string{"block"}},
		{name: "Require MFA for Office 365", state: "enabled", includeUsers: all, excludeGroups: []string{g.grpMFAExcluded}, includeApps: []string{"Office365"}, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}, signInFrequencyHours: 12},
		{name: "Workload identities only from trusted locations", state: "enabledForReportingButNotEnforced", includeUsers: []string{"None"}, includeApps: all, clientAppTypes: all, includeSPs: daemonSPs, includeLocations: all, excludeLocs: []string{g.vpnIP, g.trustedIP}, operator: "OR", controls: []string{"block"}},
		{name: "Require MFA for helpdesk and user admins", state: "enabledForReportingButNotEnforced", includeRoles: []string{genRoleHelpdeskAdmin, genRoleUserAdmin}, excludeRoles: []string{genRoleGlobalAdmin}, includeApps: all, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}, signInFrequencyHours: 4},
		{name: "Legacy - Require MFA for Finance (superseded by the office-countries policy)", state: "disabled", includeGroups: []string{g.grpFinance}, includeApps: []string{"Office365", web.appID}, excludeApps: []string{api.appID}, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}},
		{name: "Require MFA for " + api.name, state: "enabled", includeUsers: all, excludeGroups: []string{g.workloadGr[1]}, includeApps: []string{api.appID}, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}},
		{name: "Pilot - Require MFA for all apps", state: "enabledForReportingButNotEnforced", includeGroups: []string{g.grpCAPilot}, includeApps: all, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}},
		{name: "Sign-in frequency for guests", state: "enabled", includeUsers: []string{"GuestsOrExternalUsers"}, includeApps: all, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}, signInFrequencyHours: 24},
		{name: "Require MFA for risky sign-ins", state: "enabledForReportingButNotEnforced", includeUsers: all, includeApps: all, clientAppTypes: all, signInRisk: []string{"high", "medium"}, operator: "OR", controls: []string{"mfa"}},
		{name: "Require password change for high-risk users", state: "enabled", includeUsers: all, includeApps: all, clientAppTypes: all, userRisk: []string{"high"}, operator: "AND", controls: []string{"mfa", "passwordChange"}},
		{name: "Block unsupported device platforms", state: "enabledForReportingButNotEnforced", includeUsers: all, includeApps: all, clientAppTypes: all, includePlatforms: all, excludePlatfs: []string{"android", "iOS", "windows", "macOS"}, operator: "OR", controls: []string{"block"}},
		{name: "Require approved client app on mobile", state: "enabled", includeUsers: all, includeApps: []string{"Office365"}, clientAppTypes: []string{"mobileAppsAndDesktopClients", "browser"}, includePlatforms: []string{"android", "iOS"}, operator: "OR", controls: []string{"approvedApplication", "compliantApplication"}},
		{name: "Finance apps only from countries with offices", state: "enabled", includeGroups: []string{g.grpFinance}, includeApps: []string{app(genAppSPA).appID, web.appID}, clientAppTypes: all, includeLocations: all, excludeLocs: []string{g.allowedCountry}, operator: "OR", controls: []string{"block"}},
		{name: "Security info registration from trusted locations", state: "enabled", includeUsers: all, excludeRoles: []string{genRoleGlobalAdmin}, userActions: []string{"urn:user:registersecurityinfo"}, clientAppTypes: all, includeLocations: all, excludeLocs: []string{"AllTrusted"}, operator: "OR", controls: []string{"block"}},
		{name: "Admin portals require MFA", state: "enabled", includeUsers: all, excludeGroups: []string{g.roleGroups[1]}, includeApps: []string{"MicrosoftAdminPortals"}, clientAppTypes: all, operator: "OR", controls: []string{"mfa"}},
	}
	bg := []string{g.users[g.breakGlass[0]].id, g.users[g.breakGlass[1]].id}
	w := &g.w
	// The list is in order of importance: small tenants get its head, which still covers
	// every kind of target a restore must rewrite.
	for i, p := range policies[:count] {
		p.name = fmt.Sprintf("CA%03d: %s", i+1, p.name)
		id := genGUID(r)
		created := genBetween(r, g.tenantCreated+60*genDay, genBase-7*genDay)
		w.reset()
		w.beginObj()
		w.kObj("conditions")
		w.kObj("applications")
		w.kNull("applicationFilter")
		w.kStrs("excludeApplications", p.excludeApps...)
		w.kStrs("includeApplications", p.includeApps...)
		w.kArr("includeAuthenticationContextClassReferences")
		w.endArr()
		w.kStrs("includeUserActions", p.userActions...)
		w.endObj()
		w.kNull("authenticationFlows")
		w.kStrs("clientAppTypes", p.clientAppTypes...)
		if len(p.includeSPs) > 0 {
			w.kObj("clientApplications")
			w.kArr("excludeServicePrincipals")
			w.endArr()
			w.kStrs("includeServicePrincipals", p.includeSPs...)
			w.kNull("servicePrincipalFilter")
			w.endObj()
		} else {
			w.kNull("clientApplications")
		}
		w.kNull("devices")
		w.kNull("insiderRiskLevels")
		if len(p.includeLocations)+len(p.excludeLocs) > 0 {
			w.kObj("locations")
			w.kStrs("excludeLocations", p.excludeLocs...)
			w.kStrs("includeLocations", p.includeLocations...)
			w.endObj()
		} else {
			w.kNull("locations")
		}
		if len(p.includePlatforms) > 0 {
			w.kObj("platforms")
			w.kStrs("excludePlatforms", p.excludePlatfs...)
			w.kStrs("includePlatforms", p.includePlatforms...)
			w.endObj()
		} else {
			w.kNull("platforms")
		}
		w.kArr("servicePrincipalRiskLevels")
		w.endArr()
		w.kStrs("signInRiskLevels", p.signInRisk...)
		w.kStrs("userRiskLevels", p.userRisk...)
		w.kObj("users")
		w.kStrs("excludeGroups", p.excludeGroups...)
		w.kNull("excludeGuestsOrExternalUsers")
		w.kStrs("excludeRoles", p.excludeRoles...)
		w.kStrs("excludeUsers", bg...)
		w.kStrs("includeGroups", p.includeGroups...)
		w.kNull("includeGuestsOrExternalUsers")
		w.kStrs("includeRoles", p.includeRoles...)
		w.kStrs("includeUsers", p.includeUsers...)
		w.endObj()
		w.endObj()
		w.kTime("createdDateTime", created)
		w.kStr("displayName", p.name)
		w.kObj("grantControls")
		w.kNull("authenticationStrength")
		w.kStrs("builtInControls", p.controls...)
		w.kArr("customAuthenticationFactors")
		w.endArr()
		w.kStr("operator", p.operator)
		w.kArr("termsOfUse")
		w.endArr()
		w.endObj()
		w.kStr("id", id)
		if r.IntN(3) == 0 {
			w.kNull("modifiedDateTime")
		} else {
			w.kTime("modifiedDateTime", genBetween(r, created, genBase))
		}
		if p.signInFrequencyHours > 0 {
			w.kObj("sessionControls")
			w.kNull("applicationEnforcedRestrictions")
			w.kNull("cloudAppSecurity")
			w.kNull("disableResilienceDefaults")
			w.kNull("persistentBrowser")
			w.kObj("signInFrequency")
			w.kStr("authenticationType", "primaryAndSecondaryAuthentication")
			w.kStr("frequencyInterval", "timeBased")
			w.kBool("isEnabled", true)
			w.kStr("type", "hours")
			w.kInt("value", p.signInFrequencyHours)
			w.endObj()
			w.endObj()
		} else {
			w.kNull("sessionControls")
		}
		w.kStr("state", p.state)
		w.kNull("templateId")
		w.endObj()
		g.emit(entra.KindConditionalAccessPolicy, id)
	}
}

// ---- role assignments ----

func (g *tenantGen) assignRole(r *rand.Rand, principal, role, scope string) {
	key := genRoleAssign{principal, role, scope}
	if g.roleAssigned[key] {
		return
	}
	g.roleAssigned[key] = true
	id := genOpaqueID(r) + "-1"
	w := &g.w
	w.reset()
	w.beginObj()
	w.kNull("appScopeId")
	w.kStr("directoryScopeId", scope)
	w.kStr("id", id)
	w.kStr("principalId", principal)
	w.kStr("roleDefinitionId", role)
	w.endObj()
	g.emit(entra.KindRoleAssignment, id)
}

func (g *tenantGen) genRoleAssignments() {
	r := g.rng(11)
	user := func(u int32) string { return g.users[u].id }
	for _, u := range g.breakGlass {
		g.assignRole(r, user(u), genRoleGlobalAdmin, "/")
	}
	for _, u := range g.admins {
		g.assignRole(r, user(u), genRoleGlobalAdmin, "/")
	}
	// Other built-in roles to IT staff, weighted as tenants use them: many helpdesk
	// administrators, few privileged role administrators.
	weighted := []struct {
		role   string
		weight int
	}{
		{genRoleHelpdeskAdmin, 6}, {genRoleUserAdmin, 3}, {genRoleGroupsAdmin, 2}, {genRoleAppAdmin, 2}, {genRoleCloudAppAdmin, 2},
		{genRoleCAAdmin, 1}, {genRoleSecurityAdmin, 2}, {genRoleGlobalReader, 3}, {genRoleAuthAdmin, 2}, {genRoleExchangeAdmin, 2}, {genRolePrivilegedRole, 1},
	}
	total := 0
	for _, x := range weighted {
		total += x.weight
	}
	nOther := genClamp(g.n/400, 6, 60)
	for i := 0; i < nOther; i++ {
		role := weighted[genWeighted(r, weighted, func(x struct {
			role   string
			weight int
		}) int {
			return x.weight
		}, total)].role
		if i < len(weighted) {
			role = weighted[i].role // every role held at least once
		}
		g.assignRole(r, user(g.pick(r, g.itStaff)), role, "/")
	}
	// Role-assignable groups hold roles for their members.
	g.assignRole(r, g.roleGroups[0], genRoleUserAdmin, "/")
	g.assignRole(r, g.roleGroups[1], genRoleHelpdeskAdmin, "/")
	g.assignRole(r, g.roleGroups[2], genRoleSecurityAdmin, "/")
	// An automation service principal that provisions users.
	for i := range g.apps {
		if g.apps[i].kind == genAppDaemon {
			g.assignRole(r, g.apps[i].spID, genRoleUserAdmin, "/")
			break
		}
	}
	// Delegated administration: roles scoped to administrative units and to one app.
	for i, au := range g.aus {
		if i >= 100 {
			break
		}
		role := genRoleHelpdeskAdmin
		if i%2 == 0 {
			role = genRoleUserAdmin
		}
		g.assignRole(r, user(g.pick(r, g.itStaff)), role, "/administrativeUnits/"+au)
	}
	g.assignRole(r, user(g.pick(r, g.deptUsers[0])), genRoleCloudAppAdmin, "/"+g.apps[0].id)
	for i, cr := range g.customRoles {
		g.assignRole(r, user(g.pick(r, g.itStaff)), cr, "/")
		if i == 1 {
			g.assignRole(r, user(g.pick(r, g.itStaff)), cr, "/administrativeUnits/"+g.aus[len(g.aus)-1])
		}
	}
}

// ---- app role assignments ----

func (g *tenantGen) assignAppRole(r *rand.Rand, principal, principalType, principalName, resource, resourceName, role string, since int64) {
	key := [3]string{principal, resource, role}
	if g.appAssigned[key] {
		return
	}
	g.appAssigned[key] = true
	id := genOpaqueID(r)
	w := &g.w
	w.reset()
	w.beginObj()
	w.kStr("appRoleId", role)
	w.kTime("createdDateTime", genBetween(r, since, genBase))
	w.kNull("deletedDateTime")
	w.kStr("id", id)
	w.kStr("principalDisplayName", principalName)
	w.kStr("principalId", principal)
	w.kStr("principalType", principalType)
	w.kStr("resourceDisplayName", resourceName)
	w.kStr("resourceId", resource)
	w.endObj()
	g.emit(entra.KindAppRoleAssignment, id)
}

func (g *tenantGen) genAppRoleAssignments() {
	r := g.rng(12)
	graphSP, exchangeSP := g.firstSPs[0], g.firstSPs[1]
	var buf []int32
	for i := range g.apps {
		a := &g.apps[i]
		// Application permissions, admin-consented: the client's service principal holds
		// the resource's app role.
		for _, gr := range a.graphRoles {
			g.assignAppRole(r, a.spID, "ServicePrincipal", a.name, graphSP, "Microsoft Graph", genGraphRoles[gr].id, a.created)
		}
		if a.exchangeRole >= 0 {
			g.assignAppRole(r, a.spID, "ServicePrincipal", a.name, exchangeSP, "Office 365 Exchange Online", genExchangeRoles[a.exchangeRole].id, a.created)
		}
		for _, d := range a.apiRoleDeps {
			api := &g.apps[d]
			g.assignAppRole(r, a.spID, "ServicePrincipal", a.name, api.spID, api.name, api.roles[0].id, a.created)
		}
		// People and groups assigned to the app.
		var userRoles []string
		for _, role := range a.roles {
			if role.user {
				userRoles = append(userRoles, role.id)
			}
		}
		if len(userRoles) == 0 {
			if !a.assignRequired && r.IntN(4) != 0 {
				continue
			}
			userRoles = []string{genDefaultAccessRole}
		}
		for k := 1 + r.IntN(3); k > 0; k-- {
			gr := g.groups[r.IntN(len(g.groups))]
			g.assignAppRole(r, gr.id, "Group", gr.name, a.spID, a.name, userRoles[r.IntN(len(userRoles))], a.created)
		}
		for _, u := range g.sample(r, g.regular, genSkewed(r, 6, 1.2, 0, 500), buf) {
			g.assignAppRole(r, g.users[u].id, "User", g.displayName(u), a.spID, a.name, userRoles[r.IntN(len(userRoles))], a.created)
		}
	}
}

// ---- delegated permission grants ----

func (g *tenantGen) grant(r *rand.Rand, client, consent, principal, resource, scope string) {
	key := [4]string{client, consent, principal, resource}
	if g.grantAssigned[key] {
		return
	}
	g.grantAssigned[key] = true
	id := genOpaqueID(r)
	w := &g.w
	w.reset()
	w.beginObj()
	w.kStr("clientId", client)
	w.kStr("consentType", consent)
	w.kStr("id", id)
	w.kStrN("principalId", principal, principal != "")
	w.kStr("resourceId", resource)
	w.kStr("scope", scope)
	w.endObj()
	g.emit(entra.KindOAuth2PermissionGrant, id)
}

func (g *tenantGen) genPermissionGrants() {
	r := g.rng(13)
	graphSP := g.firstSPs[0]
	var consentable []int
	for i := range g.apps {
		a := &g.apps[i]
		if len(a.graphScopes) > 0 {
			values := make([]string, len(a.graphScopes))
			for j, s := range a.graphScopes {
				values[j] = genGraphScopes[s].value
			}
			g.grant(r, a.spID, "AllPrincipals", "", graphSP, strings.Join(values, " "))
			if a.kind != genAppAPI {
				consentable = append(consentable, i)
			}
		}
		for _, d := range a.apiScopeDeps {
			g.grant(r, a.spID, "AllPrincipals", "", g.apps[d].spID, "access_as_user")
		}
	}
	// A few users consented for themselves before the admin consent existed.
	n := genClamp(g.n/5000+2, 2, 50)
	for i := 0; i < n && len(consentable) > 0; i++ {
		a := &g.apps[consentable[r.IntN(len(consentable))]]
		u := g.pick(r, g.regular)
		g.grant(r, a.spID, "Principal", g.users[u].id, graphSP, "User.Read offline_access")
	}
}

// ---- authentication methods policy ----

func (g *tenantGen) genAuthenticationMethodsPolicy() {
	r := g.rng(14)
	w := &g.w
	w.reset()
	// target writes an include target; before and after add the method's own keys on
	// either side of "id" and "isRegistrationRequired", keeping the keys sorted.
	target := func(id string, required bool, before, after func()) {
		w.elem()
		w.beginObj()
		if before != nil {
			before()
		}
		w.kStr("id", id)
		w.kBool("isRegistrationRequired", required)
		if after != nil {
			after()
		}
		w.kStr("targetType", "group")
		w.endObj()
	}
	exclude := func(ids ...string) {
		w.kArr("excludeTargets")
		for _, id := range ids {
			w.elem()
			w.beginObj()
			w.kStr("id", id)
			w.kStr("targetType", "group")
			w.endObj()
		}
		w.endArr()
	}
	w.beginObj()
	w.kArr("authenticationMethodConfigurations")

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.fido2AuthenticationMethodConfiguration")
	exclude()
	w.kStr("id", "Fido2")
	w.kArr("includeTargets")
	target(g.grpFido2, false, nil, nil)
	target(g.roleGroups[0], true, nil, nil)
	w.endArr()
	w.kBool("isAttestationEnforced", true)
	w.kBool("isSelfServiceRegistrationAllowed", true)
	w.kObj("keyRestrictions")
	w.kArr("aaGuids")
	w.endArr()
	w.kStr("enforcementType", "block")
	w.kBool("isEnforced", false)
	w.endObj()
	w.kStr("state", "enabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration")
	exclude(g.grpMFAExcluded)
	w.kStr("id", "MicrosoftAuthenticator")
	w.kArr("includeTargets")
	target(genAllUsersAuthTarget, false, func() { w.kStr("authenticationMode", "any") }, nil)
	w.endArr()
	w.kBool("isSoftwareOathEnabled", false)
	w.kStr("state", "enabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.smsAuthenticationMethodConfiguration")
	exclude(g.grpSMSBlocked, g.roleGroups[0])
	w.kStr("id", "Sms")
	w.kArr("includeTargets")
	target(genAllUsersAuthTarget, false, nil, func() { w.kBool("isUsableForSignIn", false) })
	w.endArr()
	w.kStr("state", "enabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration")
	w.kInt("defaultLength", 8)
	w.kInt("defaultLifetimeInMinutes", 60)
	exclude()
	w.kStr("id", "TemporaryAccessPass")
	w.kArr("includeTargets")
	target(g.grpTAP, false, nil, nil)
	target(g.roleGroups[1], false, nil, nil)
	w.endArr()
	w.kBool("isUsableOnce", r.IntN(2) == 0)
	w.kInt("maximumLifetimeInMinutes", 480)
	w.kInt("minimumLifetimeInMinutes", 60)
	w.kStr("state", "enabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.emailAuthenticationMethodConfiguration")
	w.kStr("allowExternalIdToUseEmailOtp", "default")
	exclude()
	w.kStr("id", "Email")
	w.kArr("includeTargets")
	target(genAllUsersAuthTarget, false, nil, nil)
	w.endArr()
	w.kStr("state", "disabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.voiceAuthenticationMethodConfiguration")
	exclude()
	w.kStr("id", "Voice")
	w.kArr("includeTargets")
	target(genAllUsersAuthTarget, false, nil, nil)
	w.endArr()
	w.kBool("isOfficePhoneAllowed", false)
	w.kStr("state", "disabled")
	w.endObj()

	w.elem()
	w.beginObj()
	w.kStr("@odata.type", "#microsoft.graph.softwareOathAuthenticationMethodConfiguration")
	exclude()
	w.kStr("id", "SoftwareOath")
	w.kArr("includeTargets")
	target(g.officeGroups[0], false, nil, nil)
	w.endArr()
	w.kStr("state", "enabled")
	w.endObj()

	w.endArr()
	w.kStr("description", "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings")
	w.kStr("displayName", "Authentication Methods Policy")
	w.kStr("id", "authenticationMethodsPolicy")
	w.kTime("lastModifiedDateTime", genBetween(r, genBase-90*genDay, genBase))
	w.kStr("policyMigrationState", "migrationComplete")
	w.kStr("policyVersion", "1.5")
	w.kInt("reconfirmationInDays", 180)
	w.kObj("registrationEnforcement")
	w.kObj("authenticationMethodsRegistrationCampaign")
	w.kArr("excludeTargets")
	for _, u := range g.breakGlass {
		w.elem()
		w.beginObj()
		w.kStr("id", g.users[u].id)
		w.kStr("targetType", "user")
		w.endObj()
	}
	w.endArr()
	w.kArr("includeTargets")
	w.elem()
	w.beginObj()
	w.kStr("id", genAllUsersAuthTarget)
	w.kStr("targetType", "group")
	w.kStr("targetedAuthenticationMethod", "microsoftAuthenticator")
	w.endObj()
	w.endArr()
	w.kInt("snoozeDurationInDays", 1)
	w.kStr("state", "enabled")
	w.endObj()
	w.endObj()
	w.kObj("systemCredentialPreferences")
	w.kArr("excludeTargets")
	w.endArr()
	w.kArr("includeTargets")
	w.elem()
	w.beginObj()
	w.kStr("id", genAllUsersAuthTarget)
	w.kStr("targetType", "group")
	w.endObj()
	w.endArr()
	w.kStr("state", "default")
	w.endObj()
	w.endObj()
	g.emit(entra.KindAuthenticationMethodsPolicy, "authenticationMethodsPolicy")
}

// ---- organization ----

func (g *tenantGen) genOrganization() {
	hq := genOffices[0]
	w := &g.w
	w.reset()
	w.beginObj()
	w.kStr("city", hq.city)
	w.kStr("countryLetterCode", hq.code)
	w.kTime("createdDateTime", g.tenantCreated)
	w.kStr("displayName", g.org)
	w.kStr("id", g.tenantID)
	w.kStr("tenantType", "AAD")
	w.kArr("verifiedDomains")
	w.elem()
	w.beginObj()
	w.kStr("capabilities", "Email, OfficeCommunicationsOnlineService")
	w.kBool("isDefault", true)
	w.kBool("isInitial", true)
	w.kStr("name", g.domain)
	w.kStr("type", "Managed")
	w.endObj()
	w.endArr()
	w.endObj()
	g.emit(entra.KindOrganization, g.tenantID)
}

// ---- JSON writing ----

// genArena hands out JSON bodies carved from shared chunks, so that a large tenant
// costs a few hundred allocations instead of millions. Each body is capped at its own
// length: an append by a consumer reallocates instead of overwriting its neighbour.
type genArena struct{ chunk []byte }

const genChunk = 1 << 20

func (a *genArena) copy(b []byte) json.RawMessage {
	if len(b) > cap(a.chunk)-len(a.chunk) {
		if len(b) > genChunk/8 {
			return append(json.RawMessage(nil), b...)
		}
		a.chunk = make([]byte, 0, genChunk)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[start:len(a.chunk):len(a.chunk)]
}

// genWriter writes canonical JSON by hand: the generator calls it with keys in sorted
// order, and it escapes strings exactly as encoding/json does, so that the output equals
// what encoding/json would make of the same value and a snapshot's content hash is
// stable whichever produced it.
type genWriter struct {
	b     []byte
	comma []bool // per open object or array: whether the next member needs a comma
}

func (w *genWriter) reset() {
	w.b = w.b[:0]
	w.comma = w.comma[:0]
}

func (w *genWriter) sep() {
	n := len(w.comma) - 1
	if n < 0 {
		return
	}
	if w.comma[n] {
		w.b = append(w.b, ',')
	} else {
		w.comma[n] = true
	}
}

// elem starts an array element.
func (w *genWriter) elem() { w.sep() }

// key starts an object member; keys are plain identifiers and need no escaping.
func (w *genWriter) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *genWriter) beginObj() {
	w.b = append(w.b, '{')
	w.comma = append(w.comma, false)
}

func (w *genWriter) endObj() {
	w.b = append(w.b, '}')
	w.comma = w.comma[:len(w.comma)-1]
}

func (w *genWriter) beginArr() {
	w.b = append(w.b, '[')
	w.comma = append(w.comma, false)
}

func (w *genWriter) endArr() {
	w.b = append(w.b, ']')
	w.comma = w.comma[:len(w.comma)-1]
}

func (w *genWriter) str(s string) {
	w.b = append(w.b, '"')
	w.raw(s)
	w.b = append(w.b, '"')
}

// raw writes the escaped content of a string without its quotes.
func (w *genWriter) raw(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			w.b = genAppendEscaped(w.b, s)
			return
		}
	}
	w.b = append(w.b, s...)
}

// genAppendEscaped mirrors encoding/json's string encoder with HTML escaping on.
func genAppendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', genHex[c>>4], genHex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', genHex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

func (w *genWriter) kStr(k, v string) {
	w.key(k)
	w.str(v)
}

// kStrN writes v when present, and null otherwise: Graph returns null for an unset
// property that was selected.
func (w *genWriter) kStrN(k, v string, present bool) {
	if present {
		w.kStr(k, v)
	} else {
		w.kNull(k)
	}
}

func (w *genWriter) kNull(k string) {
	w.key(k)
	w.b = append(w.b, "null"...)
}

func (w *genWriter) kBool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *genWriter) kInt(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}

func (w *genWriter) kTime(k string, unix int64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = time.Unix(unix, 0).UTC().AppendFormat(w.b, time.RFC3339)
	w.b = append(w.b, '"')
}

func (w *genWriter) kStrs(k string, vs ...string) {
	w.key(k)
	w.beginArr()
	for _, v := range vs {
		w.elem()
		w.str(v)
	}
	w.endArr()
}

func (w *genWriter) kObj(k string) {
	w.key(k)
	w.beginObj()
}

func (w *genWriter) kArr(k string) {
	w.key(k)
	w.beginArr()
}

// phone writes a quoted phone number in the office's numbering plan.
func (w *genWriter) phone(prefix string, r *rand.Rand) {
	w.b = append(w.b, '"')
	w.raw(prefix)
	n := r.IntN(10000)
	w.b = append(w.b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10), '"')
}
