package jiraexport

// The IssueSprints bridge (an issue is in every sprint it was carried over
// to) and the IssueStatusChanges changelog, both laid out per issue by
// layoutIssues and addressed by index.

// issueSprintRow is one row of IssueSprints: issue issueIdx is in sprint.
type issueSprintRow struct {
	id       int64
	issueIdx int
	issue    string
	sprint   int32
}

func (s *Service) issueSprintsTable() *table[issueSprintRow] {
	n := func() int { return s.total(fLinks) }
	return &table[issueSprintRow]{
		name: "IssueSprints", typeName: "IssueSprint", key: 0,
		cols: []column[issueSprintRow]{
			{"Id", edmInt64, false, func(r *issueSprintRow) value { return num(float64(r.id)) }},
			{"IssueKey", edmString, false, func(r *issueSprintRow) value { return str(r.issue) }},
			{"SprintId", edmInt32, false, func(r *issueSprintRow) value { return num(float64(r.sprint)) }},
		},
		size:    n,
		visible: func(v *viewer, j int) bool { return v.member(int(s.issueProj[s.owner(fLinks, j)])) },
		load: func(j int, r *issueSprintRow) {
			i := s.owner(fLinks, j)
			r.id, r.issueIdx, r.issue = int64(j)+1, i, s.issueKey(i)
			r.sprint = sprintID(int(s.issueProj[i]), s.life(i).firstSprint+int32(j-s.start(fLinks, i)))
		},
		find: func(k value) (int, bool) {
			j := int(k.n) - 1
			return j, float64(j+1) == k.n && j >= 0 && j < n()
		},
		navs: []navigation[issueSprintRow]{
			{name: "Issue", target: "Issues", partner: "SprintLinks", refs: ref("IssueKey", "Key"),
				link: func(r *issueSprintRow, out []int) []int { return append(out, r.issueIdx) }},
			{name: "Sprint", target: "Sprints", refs: ref("SprintId", "Id"),
				link: func(r *issueSprintRow, out []int) []int { return append(out, int(r.sprint)-1) }},
		},
	}
}

// workflow is the sequence of statuses an issue goes through; a bounced
// issue goes back from review once (the two extra steps).
var (
	workflow        = []int{stToDo, stInProgress, stInReview, stDone}
	bouncedWorkflow = []int{stToDo, stInProgress, stInReview, stInProgress, stInReview, stDone}
)

// statusChangeRow is one row of IssueStatusChanges.
type statusChangeRow struct {
	id       int64
	issueIdx int
	issue    string
	from, to string
	at       int64
	author   string
}

// statusChange fills r with change k (0-based) of issue i: the changes are
// spread evenly from the creation to the resolution (Done) or the last
// update, so the last one happens exactly then and leads to the current
// status.
func (s *Service) statusChange(i, k int, r *statusChangeRow) {
	l := s.life(i)
	steps := workflow
	if l.bounced {
		steps = bouncedWorkflow
	}
	n := l.changeCount()
	end := l.updated
	if l.status == stDone {
		end = l.resolved
	}
	r.issueIdx, r.issue = i, s.issueKey(i)
	r.from, r.to = statuses[steps[k]], statuses[steps[k+1]]
	r.at = l.created + (end-l.created)*int64(k+1)/int64(n)
	p := int(s.issueProj[i])
	r.author = s.member(p, s.h(domIssue, uint64(i), 9)) // the assignee: only To Do issues are unassigned
	if k == 0 && s.h(domIssue, uint64(i), 20)%4 == 0 {
		r.author = s.member(p, s.h(domIssue, uint64(i), 10)) // the reporter started it
	}
}

func (s *Service) statusChangesTable() *table[statusChangeRow] {
	n := func() int { return s.total(fChanges) }
	return &table[statusChangeRow]{
		name: "IssueStatusChanges", typeName: "IssueStatusChange", key: 0,
		cols: []column[statusChangeRow]{
			{"Id", edmInt64, false, func(r *statusChangeRow) value { return num(float64(r.id)) }},
			{"IssueKey", edmString, false, func(r *statusChangeRow) value { return str(r.issue) }},
			{"FromStatus", edmString, false, func(r *statusChangeRow) value { return str(r.from) }},
			{"ToStatus", edmString, false, func(r *statusChangeRow) value { return str(r.to) }},
			{"ChangedAt", edmDateTimeOffset, false, func(r *statusChangeRow) value { return tim(r.at) }},
			{"Author", edmString, false, func(r *statusChangeRow) value { return str(r.author) }},
		},
		size:    n,
		visible: func(v *viewer, j int) bool { return v.member(int(s.issueProj[s.owner(fChanges, j)])) },
		load: func(j int, r *statusChangeRow) {
			i := s.owner(fChanges, j)
			s.statusChange(i, j-s.start(fChanges, i), r)
			r.id = int64(j) + 1
		},
		find: func(k value) (int, bool) {
			j := int(k.n) - 1
			return j, float64(j+1) == k.n && j >= 0 && j < n()
		},
		navs: []navigation[statusChangeRow]{
			{name: "Issue", target: "Issues", partner: "StatusChanges", refs: ref("IssueKey", "Key"),
				link: func(r *statusChangeRow, out []int) []int { return append(out, r.issueIdx) }},
			{name: "AuthorUser", target: "Users", refs: ref("Author", "Id"),
				link: func(r *statusChangeRow, out []int) []int { return s.userLink(r.author, out) }},
		},
	}
}
