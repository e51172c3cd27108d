package handlers

// requiredMembers is a request body with members it cannot do without:
// decode reports each one left out as "is required" (422), as the schema's
// required says. encoding/json alone cannot tell a member left out from one
// sent as "", so without this a forgot-password without an email was
// answered 202 like any other. (Accept and reset answer a missing token
// like any dead one, 410, and login a missing member like any failure, 401.)
type requiredMembers interface{ requiredMembers() []string }

func (forgotRequest) requiredMembers() []string        { return []string{"portal", "email"} }
func (invitationRequest) requiredMembers() []string    { return []string{"email"} }
func (contactInviteRequest) requiredMembers() []string { return []string{"contactId"} }
