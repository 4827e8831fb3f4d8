"""The language each person reads: picked from Telegram at first contact, changed with
/language, stored per user so that messages sent later (tickets, refunds, results,
reminders) reach them in it."""
