"""Block Kit builders by surface: pure functions from rows to Slack payloads, no I/O.

modal: the forms people fill in; thread: a conversation's Slack thread; home: App Home;
manage: managing lines. common: what they share."""
