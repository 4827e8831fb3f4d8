"""The event wizard in chat: :mod:`handlers.wizard.chat` (commands, messages, buttons) and
:mod:`handlers.wizard.steps` (the dialogue: questions, choices, skip and back)."""
