-- Agents: a session is answered by the agent registered under `agent`, whose typed context
-- (JSON) is built when the session starts and saved again after every turn. A reply keeps its
-- tool calls, results, approval requests and widgets (JSON, each with its place in the text);
-- a user message keeps the values of a submitted form.
ALTER TABLE chat_sessions ADD COLUMN agent TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE chat_sessions ADD COLUMN context TEXT NOT NULL DEFAULT 'null';
ALTER TABLE chat_messages ADD COLUMN parts TEXT;
ALTER TABLE chat_messages ADD COLUMN form_values TEXT;
