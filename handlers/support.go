package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// UserGroups reads the members of a Slack user group.
type UserGroups interface {
	GetUserGroupMembersContext(ctx context.Context, group string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

// SupportTeam knows who is support: a fixed list of user IDs and the members of
// a Slack user group, read with usergroups.users.list and cached. It fails
// closed: while the group cannot be read, only the fixed list and the members
// last read are support.
type SupportTeam struct {
	users map[string]bool
	group string
	api   UserGroups
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu        sync.Mutex
	members   map[string]bool
	fetchedAt time.Time
	fetching  bool
}

// NewSupportTeam returns the support team made of users and the members of
// group ("" for none), re-read from Slack every ttl.
func NewSupportTeam(users []string, group string, api UserGroups, ttl time.Duration, now func() time.Time, log *slog.Logger) *SupportTeam {
	s := &SupportTeam{users: map[string]bool{}, group: group, api: api, ttl: ttl, now: now, log: log}
	for _, u := range users {
		s.users[u] = true
	}
	return s
}

// IsSupport reports whether userID is support. The first call reads the group
// (bounded by ctx); later calls answer from the cache and refresh it in the
// background once it is older than the TTL.
func (s *SupportTeam) IsSupport(ctx context.Context, userID string) bool {
	if s.users[userID] {
		return true
	}
	if s.group == "" {
		return false
	}
	s.mu.Lock()
	cold := s.fetchedAt.IsZero()
	stale := !cold && s.now().Sub(s.fetchedAt) > s.ttl && !s.fetching
	if stale {
		s.fetching = true
	}
	member := s.members[userID]
	s.mu.Unlock()
	switch {
	case cold:
		s.refresh(ctx)
		s.mu.Lock()
		member = s.members[userID]
		s.mu.Unlock()
	case stale:
		go s.refresh(context.WithoutCancel(ctx))
	}
	return member
}

func (s *SupportTeam) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	users, err := s.api.GetUserGroupMembersContext(ctx, s.group)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetching = false
	if err != nil {
		s.log.WarnContext(ctx, "reading the support group failed; keeping the members last read", "group", s.group, "err", err)
		return
	}
	s.members = make(map[string]bool, len(users))
	for _, u := range users {
		s.members[u] = true
	}
	s.fetchedAt = s.now()
}
