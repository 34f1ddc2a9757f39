-- The shape a reply was asked to have (OpenAI's `response_format`, as JSON): on a user message,
-- what it asked for; on a reply, what it follows.
ALTER TABLE chat_messages ADD COLUMN response_format TEXT;
