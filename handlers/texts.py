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

HELP = """*Text customers from Slack with `/text`*
• `/text` opens the form: pick a line, a recipient (start typing a name or number) and your message.
• `/text lines` lists the lines you may text from.
• `/text help` shows this.
Replies from customers appear in the conversation's thread in the line's channel."""
