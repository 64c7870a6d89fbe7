"""What textbot says to people in Slack, in one place (the notices stored in threads:
models/notices.py). Numbers that are settings are filled in where the text is used; fixed
limits come from where they are defined."""

from models.group_texts import MAX_GROUP_CONTACTS
from models.outbound_media import MAX_MMS_BYTES
from models.sms_segments import SINGLE_SEGMENT, SmsEncoding

_MMS_MEGABYTES = MAX_MMS_BYTES // (1024 * 1024)

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

# Filled in by help_text, with the settings' limits.
HELP = """*Text customers from Slack with `/text`*
• `/text`: the form. Pick a line, a recipient (type a name or a number) and your message.
• `/text multi`: the same text to up to {max_multi} people, each in a conversation of their own.
• `/text group`: a reply-all group text of {group_min} to {group_max} people; everyone sees \
everyone's replies.
• `/text LINE NUMBER_OR_CONTACT MESSAGE`: send at once (`/text Sales 202-555-0123 Ready!`).
• `/text lines`: the lines you may text from.
• `/text contacts QUERY`: find contacts by name or number.
• `/text help`: this.
Customers' replies appear in the conversation's thread in the line's channel; reply in the \
thread to text back (start with `note:` to keep it internal)."""

# An inbound text shown after newer messages of its thread (the webhook missed it).
RECEIVED_LATE = ":hourglass: sent {when}, received late"
RECEIVED_LATE_AT_ITS_TIME = ":hourglass: received late"  # beside the time it was sent
RECIPIENT_OPTED_OUT = (
    "{who} has opted out of texts from {line} (they texted STOP). Nothing was sent; they can "
    "text START to opt back in."
)
REPLY_NOT_ALLOWED = (
    "Not sent: you don't have access to the line {line}, so your reply stayed in Slack. "
    "Ask a workspace admin for access."
)
REPLY_INVALID = "Not sent: {reason}"
REPLY_FILE_REFUSED = (
    "Not sent: {reason} Nothing was texted. Reply again without the file, or with JPEG, PNG "
    f"or GIF pictures of at most {_MMS_MEGABYTES} MB."
)
REPLY_LINE_OFF = "Not sent: the line {line} is turned off. An admin can turn it back on."
EDIT_TOO_LATE = (
    "Your reply had already been texted when you edited it, so the customer got the "
    "original text. Send a new reply to correct it."
)
TEXTED_AS = ":iphone: The customer will get: “{text}” ({segments})."
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
UNKNOWN_SUBCOMMAND = "I don't know `/text {text}`.\n"
QUICK_USAGE = (
    "Usage: `/text LINE NUMBER_OR_CONTACT MESSAGE`, e.g. `/text Sales 202-555-0123 Hello`."
)
QUICK_UNKNOWN_LINE = "there is no line called “{line}”. `/text lines` lists yours."
QUICK_UNKNOWN_RECIPIENT = (
    "“{recipient}” is neither a valid phone number nor the exact name of a contact."
)
QUICK_AMBIGUOUS_CONTACT = "several contacts are called “{name}”; use their number instead."
QUICK_WHICH_CONTACT = (
    "the message could start after {choices}, which are both contacts; put the one you "
    'mean in quotes, e.g. `/text Sales "Jane Doe" Hello`.'
)
QUICK_WHICH_NUMBER = (
    "{choices} could each be the number; put the message after the number with a word "
    "first, or type the number in one piece, e.g. `+12025550123`."
)
QUICK_UNCLOSED_QUOTE = 'a quote is opened but never closed, e.g. `/text Sales "Jane Doe" Hello`.'

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
OPTED_OUT_MEANWHILE = "{who} texted STOP just now, so nothing was sent. Remove them to go on."
QUICK_NO_MESSAGE = "the message is empty: type it after the recipient."
QUICK_QUIET_HOURS = (
    "it would be {local} for {who}: quiet hours ({start} to {end} their time). Open `/text` to "
    "schedule it with Send later (from {when}), or to send it anyway."
)
BAD_TIME = "That is not a time I can read. Pick one with the date and time pickers."
NOT_AN_ADMIN = "Only workspace admins can add lines. Nothing was added."
INVITE_BOT = (
    "Your new line mirrors into <#{channel}>, but I could not join it (it is private). "
    "Invite me there with `/invite @textbot` so conversations can appear."
)
# An inbound attachment whose URL was not Twilio's: not downloaded with the account's keys.
ATTACHMENT_NOT_FETCHED = "could not be fetched (its address is not Twilio's)"

NO_PICTURES_IN_GROUP_TEXTS = (
    "Pictures cannot go to a group text yet: send the text alone, or tick Relay it to send "
    "them to each member on their own."
)


def help_text(*, max_multi: int, group_size: tuple[int, int]) -> str:
    """/text help, with the limits the settings give."""
    return HELP.format(max_multi=max_multi, group_min=group_size[0], group_max=group_size[1])


# The /text form. Its hints name the limits that apply: the settings' (filled in by the
# form's builder) and Twilio's.
KIND_HELP_CONVERSATION = "Text one person. Their replies come back to the thread."
KIND_HELP_MULTI = (
    "Each recipient gets the text on their own, in a conversation of their own: "
    "recipients never see each other. Up to {max_multi} recipients."
)
KIND_HELP_GROUP = (
    "One group text: every participant sees the others' numbers and replies, and the "
    "team sees them all in one thread. {group_min} to {group_max} participants."
)
RECIPIENTS_HINT = "Type names or phone numbers, up to {limit}."
MESSAGE_HINT = (
    "{first_name} and {name} are filled in for each recipient. One SMS holds "
    f"{SINGLE_SEGMENT[SmsEncoding.GSM7]} characters, or {SINGLE_SEGMENT[SmsEncoding.UCS2]} "
    "with an emoji or a curly quote."
)
PICTURES_HINT = f"JPEG, PNG or GIF, {_MMS_MEGABYTES} MB in all: sent with the text as MMS."
GROUP_RELAY_HINT = (
    "On a line with group texts, everyone is in one group thread on their phone "
    f"(+1 mobile numbers, at most {MAX_GROUP_CONTACTS}). Tick to relay it one to one instead."
)
# The quiet-hours checkbox: the form's lines' hours when they all have the same, else the
# chosen line's (the form is not redrawn when a line is picked).
QUIET_OK_HOURS = "Send even if it is night for the recipient ({start} to {end} their time)"
QUIET_OK_CHOSEN_LINE = "Send even if it is night for the recipient (the line's quiet hours)"
QUIET_OK_NO_HOURS = "Send even if it is night for the recipient (no quiet hours are set)"
