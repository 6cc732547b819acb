"""The chat surfaces: the Pipe (a chat model per workflow), the Tool, the Actions and the
media Filter, with what they share: the chat turn, the reply, the progress in a message."""
