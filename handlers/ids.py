"""Block Kit ids shared by the builders and the handlers that read what comes back."""

TEXT_COMMAND = "/text"

NEW_CONVERSATION_VIEW = "new_conversation"

KIND_BLOCK = "kind"
KIND_ACTION = "kind_select"
KIND_CONVERSATION = "conversation"
KIND_MULTI = "multi"
KIND_GROUP = "group"
KINDS = (KIND_CONVERSATION, KIND_MULTI, KIND_GROUP)

LINE_BLOCK = "line"
LINE_ACTION = "line_select"
RECIPIENT_BLOCK = "recipient"
RECIPIENT_ACTION = "recipient_select"
RECIPIENTS_BLOCK = "recipients"
RECIPIENTS_ACTION = "recipients_select"
SEND_AT_BLOCK = "send_at"
SEND_AT_ACTION = "send_at_select"
CANCEL_SCHEDULED_ACTION = "cancel_scheduled"
SAVED_REPLY_BLOCK = "saved_reply"
SAVED_REPLY_ACTION = "saved_reply_select"
MESSAGE_BLOCK = "message"
MESSAGE_ACTION = "message_input"

CLOSE_CONVERSATION_ACTION = "close_conversation"
REOPEN_CONVERSATION_ACTION = "reopen_conversation"
RETRY_FAILED_ACTION = "retry_failed"
CLAIM_CONVERSATION_ACTION = "claim_conversation"
UNASSIGN_CONVERSATION_ACTION = "unassign_conversation"
EDIT_CONTACT_ACTION = "edit_contact"
EDIT_CONTACT_VIEW = "edit_contact"
CONTACT_NAME_BLOCK = "contact_name"
CONTACT_NAME_ACTION = "contact_name_input"
NEW_CONVERSATION_BUTTON = "open_new_conversation"

ADD_LINE_ACTION = "add_line"
LINE_SETTINGS_ACTION = "line_settings"
ADD_LINE_VIEW = "add_line"
LINE_SETTINGS_VIEW = "line_settings"
LINE_NAME_BLOCK = "line_name"
LINE_NUMBER_BLOCK = "line_number"
LINE_CHANNEL_BLOCK = "line_channel"
LINE_ACTIVE_BLOCK = "line_active"
LINE_USERS_BLOCK = "line_users"
LINE_GROUPS_BLOCK = "line_groups"
LINE_MANAGERS_BLOCK = "line_managers"
SAVED_REPLIES_ACTION = "saved_replies"
SAVED_REPLIES_VIEW = "saved_replies"
REPLY_NAME_BLOCK = "reply_name"
REPLY_BODY_BLOCK = "reply_body"
REPLY_FALLBACK_BLOCK = "reply_fallback"
REPLY_DELETE_BLOCK = "reply_delete"
FIELD_ACTION = "value"  # the one element of each line-management input block

# Shortcuts (callback ids, as in manifest.yml)
NEW_TEXT_SHORTCUT = "new_text_conversation"
TEXT_THIS_SHORTCUT = "text_this_message"

# Values of recipient options: an existing contact, or a typed number not yet a contact.
CONTACT_OPTION_PREFIX = "contact:"
NEW_NUMBER_OPTION_PREFIX = "new:"
