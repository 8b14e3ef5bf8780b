package snapshots

import (
	"encoding/json"
	"time"
)

// AuditRecord is what lifeline reads from a directoryAudit entry: what happened, when,
// to which objects, and who did it.
type AuditRecord struct {
	Activity string
	At       time.Time
	// Actor is the initiating user's UPN (or name), else the app's display name (or
	// appId); "" when the entry names nobody.
	Actor string
	// Targets are the ids of the entry's target resources.
	Targets []string
}

// ParseAudit reads one directoryAudit entry as Graph returns it.
func ParseAudit(raw []byte) (AuditRecord, error) {
	var e struct {
		ActivityDisplayName string    `json:"activityDisplayName"`
		ActivityDateTime    time.Time `json:"activityDateTime"`
		InitiatedBy         struct {
			User *struct {
				UserPrincipalName string `json:"userPrincipalName"`
				DisplayName       string `json:"displayName"`
			} `json:"user"`
			App *struct {
				DisplayName string `json:"displayName"`
				AppID       string `json:"appId"`
			} `json:"app"`
		} `json:"initiatedBy"`
		TargetResources []struct {
			ID string `json:"id"`
		} `json:"targetResources"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return AuditRecord{}, err
	}
	r := AuditRecord{Activity: e.ActivityDisplayName, At: e.ActivityDateTime}
	switch u, a := e.InitiatedBy.User, e.InitiatedBy.App; {
	case u != nil && u.UserPrincipalName != "":
		r.Actor = u.UserPrincipalName
	case u != nil && u.DisplayName != "":
		r.Actor = u.DisplayName
	case a != nil && a.DisplayName != "":
		r.Actor = a.DisplayName
	case a != nil:
		r.Actor = a.AppID
	}
	for _, t := range e.TargetResources {
		if t.ID != "" {
			r.Targets = append(r.Targets, t.ID)
		}
	}
	return r, nil
}
