"""The Telegram Mini App: the door scanner and the organizer's dashboard.

Served by TicketQ's own HTTP server (:mod:`bot.web.server`) from files shipped in this package
(``static/``); every API request carries the Mini App's ``initData``, validated on the server
(:mod:`bot.web.miniapp.init_data`).
"""
