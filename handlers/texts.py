"""What textbot says to people, in one place."""

NO_LINES = (
    "You don't have access to any texting line yet, so there is nothing to send from. "
    "Ask a workspace admin to grant you a line (`textbot lines grant NUMBER {user_id}`)."
)
NO_ACCESS_TO_LINE = "You don't have access to this line. Pick one of your lines."
LINE_GONE = "This line no longer exists or is turned off. Pick another line."
PICK_RECIPIENT = "Pick a contact, or type a phone number and choose it from the list."
UNKNOWN_CONTACT = "That contact no longer exists. Search for it again."
NOT_ALLOWED_ON_CONVERSATION = (
    "You don't have access to the line {line} that this conversation uses, so you cannot "
    "change it. Ask a workspace admin for access."
)
CONVERSATION_GONE = "That conversation no longer exists."
NO_ACCESS_TO_CONTACT = "You can no longer change this contact: you don't have access to its line."

HELP = """*Text customers from Slack with `/text`*
• `/text`: the form. Pick a line, a recipient (type a name or a number) and your message.
• `/text multi`: the same text to up to 20 people, each in a conversation of their own.
• `/text group`: a reply-all group text; everyone sees everyone's replies.
• `/text LINE NUMBER_OR_CONTACT MESSAGE`: send at once (`/text Sales 202-555-0123 Ready!`).
• `/text lines`: the lines you may text from.
• `/text contacts QUERY`: find contacts by name or number.
• `/text help`: this.
Customers' replies appear in the conversation's thread in the line's channel; reply in the \
thread to text back (start with `note:` to keep it internal)."""

OPTED_OUT_NOTICE = (
    ":no_entry_sign: {who} texted {keyword} and is opted out of texts from {line}. Nothing "
    "more will be sent to them from this line until they text START."
)
OPTED_IN_NOTICE = ":white_check_mark: {who} texted START and can be texted from {line} again."
HELP_NOTICE = ":information_source: {who} texted HELP."
RECIPIENT_OPTED_OUT = (
    "{who} has opted out of texts from {line} (they texted STOP). Nothing was sent; they can "
    "text START to opt back in."
)
REPLY_NOT_ALLOWED = (
    "Not sent: you don't have access to the line {line}, so your reply stayed in Slack. "
    "Ask a workspace admin for access."
)
REPLY_INVALID = "Not sent: {reason}"
REPLY_LINE_OFF = "Not sent: the line {line} is turned off. An admin can turn it back on."
EDIT_TOO_LATE = (
    "Your reply had already been texted when you edited it, so the customer got the "
    "original text. Send a new reply to correct it."
)
DELETE_TOO_LATE = "Your deleted reply had already been texted; the customer has it."
REPLY_FAILED = ":warning: Your reply was not delivered to {who}: {reason}"
TOO_FEW_RECIPIENTS = "{what} needs at least {low} recipient(s)."
TOO_MANY_RECIPIENTS = (
    "{what} can go to at most {high} recipients; you picked {count}. Remove "
    "some, or send it in two parts."
)
NOBODY_TO_TEXT = "None of these recipients can be texted, so nothing was sent."
MULTI_QUEUED = (
    "Your text is on its way to {count} recipient(s), each in a conversation of their own. "
    "textbot will keep you posted on its progress in a direct message."
)
GROUP_QUEUED = (
    "Your group text to {count} participant(s) is on its way. The group's thread is in "
    "<#{channel}>: everyone's replies appear there and reach the whole group."
)
ROUTED_NOTICE = (
    ":twisted_rightwards_arrows: {who} is also in {others} other open conversation(s) on "
    "{line}; this text came here because this conversation texted them most recently."
)
UNKNOWN_SUBCOMMAND = "I don't know `/text {text}`.\n"
QUICK_USAGE = (
    "Usage: `/text LINE NUMBER_OR_CONTACT MESSAGE`, e.g. `/text Sales 202-555-0123 Hello`."
)
QUICK_UNKNOWN_LINE = "there is no line called “{line}”. `/text lines` lists yours."
QUICK_UNKNOWN_RECIPIENT = (
    "“{recipient}” is neither a valid phone number nor the exact name of a contact."
)
QUICK_AMBIGUOUS_CONTACT = "several contacts are called “{name}”; use their number instead."
NO_ACCESS_TO_NAMED_LINE = "you don't have access to the line {line}."
LINE_INACTIVE = "the line {line} is turned off, so it cannot send texts."
QUICK_SENT = (
    ":outbox_tray: Your text to {who} is on its way from {line}. The conversation is in "
    "<#{channel}>."
)
CONTACTS_USAGE = "Usage: `/text contacts QUERY`, with part of a name or a number."
NO_CONTACTS_FOUND = "No contact matches “{query}”."
NOT_A_MANAGER = "Only workspace admins and this line's managers can change it. Nothing was changed."
SAVED_REPLY_OTHER_LINE = "Pick one of the chosen line's saved replies."
REPLY_OR_MESSAGE = "Pick a saved reply or type a message, not both."
SCHEDULED_ALREADY_LEFT = "Too late to cancel: that text has already been sent."
SCHEDULED_QUEUED = "Your text to {who} is scheduled for {when}; you can cancel it in its thread"
AUTO_CLOSED = (
    ":zzz: Closed automatically after {days} day(s) without texts. A text from the contact, "
    "or a reply here, reopens it."
)
QUIET_HOURS = (
    "It would be {local} for {who}: quiet hours ({start} to {end} their time). Schedule it with "
    "Send later (from {when}), or tick “Send even if it is night” below."
)
BAD_TIME = "That is not a time I can read. Pick one with the date and time pickers."
SCHEDULED_CANCELED_BY_REPLY = (
    ":no_entry_sign: {who} texted in before the scheduled text left, so it was canceled. "
    "Schedule it again if it still applies."
)
NOT_AN_ADMIN = "Only workspace admins can add lines. Nothing was added."
INVITE_BOT = (
    "Your new line mirrors into <#{channel}>, but I could not join it (it is private). "
    "Invite me there with `/invite @textbot` so conversations can appear."
)
