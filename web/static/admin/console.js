// Admin console of the customer portal: a thin client of the JSON admin API.
// No framework and no build step. The page is served with a CSP that allows
// no inline script or style, so the DOM is built with createElement and
// textContent only (never innerHTML), and charts are SVG with attributes. The
// one exception is an article's preview: HTML the server rendered and
// sanitized, parsed inert with DOMParser (nothing in it runs) and moved in.
(function () {
  'use strict';

  var TOKEN_KEY = 'portal.staffToken';
  var API = '/v1/customer-portal';
  var token = '';
  var config = null;
  var etag = '';

  function $(id) { return document.getElementById(id); }

  // el builds an element: attrs may hold class, text, on<event> handlers and
  // plain attributes; children are nodes or strings.
  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // --- API ------------------------------------------------------------------

  function ApiError(status, problem) {
    this.status = status;
    this.problem = problem || {};
    this.message = this.problem.detail || this.problem.title || ('HTTP ' + status);
  }

  async function api(method, path, body, headers) {
    var h = Object.assign({ Authorization: 'Bearer ' + token, Accept: 'application/json' }, headers || {});
    var opt = { method: method, headers: h, cache: 'no-store' };
    if (body !== undefined) {
      if (!h['Content-Type']) h['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    var res;
    try {
      res = await fetch(path, opt);
    } catch (e) {
      throw new ApiError(0, { detail: 'The server could not be reached.' });
    }
    var text = res.status === 204 ? '' : await res.text();
    var data = null;
    if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
    if (res.status === 401) {
      signOut('The token was refused: it is invalid or has expired. Paste a new one.');
      throw new ApiError(401, data);
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return { data: data, res: res };
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return String((err && err.message) || err);
    if (err.status === 403) return 'This token lacks the permission for that: changes need the portal:write scope.';
    if (err.status === 429) return 'Too many requests. ' + (err.problem.detail || 'Try again later.');
    return err.message;
  }

  // --- feedback -------------------------------------------------------------

  var toastTimer = 0;
  function toast(msg, kind) {
    var t = $('toast');
    t.textContent = msg;
    t.className = 'toast show ' + (kind || 'ok');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.className = 'toast'; }, 7000);
  }
  function fail(err) { toast(describe(err), 'error'); }

  function fmt(iso) {
    if (!iso) return 'never';
    return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
  function when(iso) {
    if (!iso) return el('span', { class: 'muted', text: 'never' });
    return el('time', { datetime: iso, title: iso, text: fmt(iso) });
  }
  function fullName(x) { return [x.firstName, x.lastName].filter(Boolean).join(' '); }
  function badge(status) { return el('span', { class: 'status status-' + status, text: status }); }
  function capital(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : s; }

  // --- sign-in with a staff token -------------------------------------------

  function claimsOf(t) {
    try {
      var p = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      while (p.length % 4) p += '=';
      return JSON.parse(atob(p));
    } catch (e) {
      return {};
    }
  }

  function showSignin(msg) {
    $('app').hidden = true;
    $('who').hidden = true;
    $('signin').hidden = false;
    var err = $('token-error');
    err.textContent = msg || '';
    err.hidden = !msg;
    var input = $('token-input');
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    input.focus();
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    showSignin(msg);
  }

  async function start() {
    var m = /^#token=([^&]+)/.exec(location.hash);
    if (m) {
      // Keep the token out of the address bar and the history at once.
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    token = sessionStorage.getItem(TOKEN_KEY) || '';
    if (!token) { showSignin(''); return; }
    try {
      await loadConfig();
    } catch (e) {
      if (e.status !== 401) showSignin(describe(e));
      return;
    }
    var c = claimsOf(token);
    $('who-text').textContent = 'Signed in as ' + (c.sub || 'staff') + (c.org ? ' · organization ' + c.org : '');
    $('signin').hidden = true;
    $('who').hidden = false;
    $('app').hidden = false;
    var t = /^#tickets\/([0-9A-Z]{26})$/.exec(location.hash);
    if (t) {
      // A link from a support email: open that ticket.
      history.replaceState(null, '', location.pathname + location.search);
      selectTab('tickets', false);
      openTicket(t[1]).catch(fail);
      return;
    }
    selectTab('overview', false);
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var v = $('token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (!v) { showSignin('Paste a token first.'); return; }
    sessionStorage.setItem(TOKEN_KEY, v);
    $('token-input').value = '';
    start();
  });
  $('forget-token').addEventListener('click', function () { signOut(''); toast('The token was removed from this tab.'); });

  // --- tabs (WAI-ARIA tabs: arrow keys move, Tab goes into the panel) --------

  var loaders = {
    overview: loadStats,
    config: loadConfig,
    features: loadFeatures,
    invite: function () {},
    users: function () { return loadList('users', true); },
    invitations: function () { return loadList('invitations', true); },
    sessions: function () { return loadList('sessions', true); },
    audit: function () { return loadList('audit', true); },
    tickets: function () { return loadList('tickets', true); },
    documents: function () { return loadList('documents', true); },
    articles: function () { return loadList('articles', true); }
  };

  function tabs() { return Array.prototype.slice.call(document.querySelectorAll('[role="tab"]')); }

  function selectTab(name, focus) {
    tabs().forEach(function (tab) {
      var on = tab.id === 'tab-' + name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute('aria-controls')).hidden = !on;
      if (on && focus) tab.focus();
    });
    Promise.resolve().then(loaders[name]).catch(fail);
  }

  $('tabs').addEventListener('click', function (ev) {
    var tab = ev.target.closest('[role="tab"]');
    if (tab) selectTab(tab.id.slice(4), true);
  });
  $('tabs').addEventListener('keydown', function (ev) {
    var list = tabs();
    var i = list.indexOf(document.activeElement);
    if (i < 0) return;
    var next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: list.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    next = (next + list.length) % list.length;
    selectTab(list[next].id.slice(4), true);
  });
  document.querySelectorAll('[data-refresh]').forEach(function (b) {
    b.addEventListener('click', function () {
      Promise.resolve().then(loaders[b.getAttribute('data-refresh')]).then(function () { toast('Up to date.'); }, fail);
    });
  });

  // --- overview: counts and two SVG bar charts ---------------------------------

  var SVG = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // barChart draws one horizontal bar per item, scaled to the largest value,
  // and writes the same numbers as text into the chart's <desc>.
  function barChart(svg, desc, items) {
    var rowH = 32, labelW = 120, valueW = 130, width = 480;
    var barMax = width - labelW - valueW;
    var max = Math.max.apply(null, [1].concat(items.map(function (it) { return it.value; })));
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + (items.length * rowH + 8));
    Array.prototype.slice.call(svg.childNodes).forEach(function (c) { if (c !== desc) c.remove(); });
    desc.textContent = items.map(function (it) { return it.label + ': ' + it.value + (it.note ? ' (' + it.note + ')' : ''); }).join('; ');
    items.forEach(function (it, n) {
      var y = 4 + n * rowH;
      var w = it.value === 0 ? 0 : Math.max(3, Math.round(barMax * it.value / max));
      var g = svgEl('g', { 'aria-hidden': 'true' });
      g.append(svgEl('text', { x: labelW - 10, y: y + 20, 'text-anchor': 'end', class: 'chart-label' }, it.label));
      g.append(svgEl('rect', { x: labelW, y: y + 5, width: barMax, height: rowH - 12, rx: 3, class: 'track' }));
      g.append(svgEl('rect', { x: labelW, y: y + 5, width: w, height: rowH - 12, rx: 3, class: 'bar ' + (it.cls || '') }));
      g.append(svgEl('text', { x: labelW + barMax + 8, y: y + 20, class: 'chart-value' }, String(it.value) + (it.note ? ' · ' + it.note : '')));
      svg.append(g);
    });
  }

  function perDay(n, days) {
    if (days === 1) return n + '/day';
    var v = n / days;
    return '≈ ' + (v >= 10 ? Math.round(v) : v.toFixed(1)) + '/day';
  }

  async function loadStats() {
    var s = (await api('GET', API + '/stats')).data;
    var rows = [
      ['Portal users', s.users.total], ['Active', s.users.active], ['Invited', s.users.invited],
      ['Revoked', s.users.revoked], ['Active sessions', s.sessions.active],
      ['Invitations accepted', Math.round(s.acceptanceRate * 100) + '%'],
      ['Features enabled', s.features.enabled + ' of ' + s.features.total]
    ];
    if (s.tickets) rows.push(['Open tickets', s.tickets.open], ['Pending tickets', s.tickets.pending]);
    $('stats').replaceChildren.apply($('stats'), rows.map(function (r) {
      return el('div', { class: 'stat' }, el('dt', { text: r[0] }), el('dd', { text: String(r[1]) }));
    }));
    // /stats gives three rolling windows, not a series per day: chart
    // exactly those, with the average per day each one works out to.
    barChart($('chart-logins'), $('logins-desc'), [
      { label: 'Last 24 hours', value: s.logins.last24h, note: perDay(s.logins.last24h, 1) },
      { label: 'Last 7 days', value: s.logins.last7d, note: perDay(s.logins.last7d, 7) },
      { label: 'Last 30 days', value: s.logins.last30d, note: perDay(s.logins.last30d, 30) }
    ]);
    barChart($('chart-funnel'), $('funnel-desc'), [
      { label: 'Pending', value: s.invitations.pending, cls: 'bar-pending' },
      { label: 'Accepted', value: s.invitations.accepted, cls: 'bar-accepted' },
      { label: 'Expired', value: s.invitations.expired, cls: 'bar-expired' },
      { label: 'Cancelled', value: s.invitations.cancelled, cls: 'bar-cancelled' }
    ]);
    $('stats-time').textContent = 'Counted ' + fmt(s.generatedAt) + '.';
  }

  // --- inline validation messages from a problem's errors[] ------------------

  function labelOf(input) {
    var l = input.id && document.querySelector('label[for="' + input.id + '"]');
    return l ? l.textContent.trim() : input.name;
  }

  function clearErrors(form, summary) {
    form.querySelectorAll('.field-error[data-for]').forEach(function (p) { p.remove(); });
    form.querySelectorAll('[aria-invalid]').forEach(function (i) {
      i.removeAttribute('aria-invalid');
      if ('describedby' in i.dataset) {
        if (i.dataset.describedby) i.setAttribute('aria-describedby', i.dataset.describedby);
        else i.removeAttribute('aria-describedby');
        delete i.dataset.describedby;
      }
    });
    summary.hidden = true;
    summary.replaceChildren();
  }

  // showErrors puts each message next to its field (by the field's name,
  // which is the API's field path) and lists them all in a summary.
  function showErrors(form, summary, errors) {
    clearErrors(form, summary);
    var list = el('ul');
    var first = null;
    errors.forEach(function (er) {
      var input = er.field ? form.elements.namedItem(er.field) : null;
      var text = er.plain ? er.message : (input ? labelOf(input) : (er.field || 'The form')) + ' ' + er.message + '.';
      if (input && input.id) {
        var id = input.id + '-error';
        input.parentNode.insertBefore(el('p', { class: 'field-error', id: id, 'data-for': input.id, text: text }), input);
        var d = input.getAttribute('aria-describedby');
        input.dataset.describedby = d || '';
        input.setAttribute('aria-describedby', (d ? d + ' ' : '') + id);
        input.setAttribute('aria-invalid', 'true');
        first = first || input;
        list.append(el('li', {}, el('a', { href: '#' + input.id, onclick: function (ev) { ev.preventDefault(); input.focus(); } }, text)));
      } else {
        list.append(el('li', { text: text }));
      }
    });
    summary.replaceChildren(el('p', { class: 'summary-title', text: 'Please correct the following:' }), list);
    summary.hidden = false;
    // The first invalid field in the order of the form, not of the list.
    first = form.querySelector('[aria-invalid="true"]') || first;
    (first || summary).focus();
  }

  // --- configuration ------------------------------------------------------------

  var CONFIG_FIELDS = ['enabled', 'portalName', 'slug', 'supportEmail', 'customDomain', 'welcomeMessage',
    'branding.logoUrl', 'branding.faviconUrl', 'branding.primaryColor', 'branding.accentColor',
    'auth.sessionTtlMinutes', 'auth.idleTimeoutMinutes', 'auth.passwordMinLength', 'invitations.expiryHours',
    'auth.allowedEmailDomains'];

  function getPath(o, path) {
    return path.split('.').reduce(function (x, k) { return x === null || x === undefined ? undefined : x[k]; }, o);
  }
  function setPath(o, path, v) {
    var ks = path.split('.');
    for (var i = 0; i < ks.length - 1; i++) { o[ks[i]] = o[ks[i]] || {}; o = o[ks[i]]; }
    o[ks[ks.length - 1]] = v;
  }

  async function loadConfig() {
    var r = await api('GET', API + '/config');
    config = r.data;
    etag = r.res.headers.get('ETag') || '';
    fillConfig();
  }

  function fillConfig() {
    var f = $('config-form');
    clearErrors(f, $('config-summary'));
    CONFIG_FIELDS.forEach(function (name) {
      var input = f.elements.namedItem(name);
      var v = getPath(config, name);
      if (input.type === 'checkbox') input.checked = !!v;
      else if (Array.isArray(v)) input.value = v.join('\n');
      else input.value = v === null || v === undefined ? '' : String(v);
    });
    $('config-version').textContent = 'Version ' + config.version + ', changed ' + fmt(config.updatedAt) + ' by ' + config.updatedBy + '.';
    $('portal-link').href = '/p/' + encodeURIComponent(config.slug) + '/';
  }

  function readField(input, name) {
    if (input.type === 'checkbox') return input.checked;
    if (name === 'auth.allowedEmailDomains') return input.value.split(/[\s,]+/).filter(Boolean);
    if (input.inputMode === 'numeric') {
      var raw = input.value.trim();
      // A number goes as a number; anything else as typed, so the server
      // names the problem ("must be a whole number").
      return /^-?\d+$/.test(raw) ? Number(raw) : raw;
    }
    return input.value;
  }

  $('config-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = ev.target, summary = $('config-summary');
    var patch = {}, changed = 0;
    CONFIG_FIELDS.forEach(function (name) {
      var next = readField(f.elements.namedItem(name), name);
      var cur = getPath(config, name);
      if (JSON.stringify(next) !== JSON.stringify(cur === undefined || cur === null ? (Array.isArray(next) ? [] : '') : cur)) {
        setPath(patch, name, next);
        changed++;
      }
    });
    if (!changed) { clearErrors(f, summary); toast('Nothing to save: no field changed.'); return; }
    try {
      var r = await api('PATCH', API + '/config', patch, { 'Content-Type': 'application/merge-patch+json', 'If-Match': etag });
      config = r.data;
      etag = r.res.headers.get('ETag') || '';
      fillConfig();
      toast('Configuration saved (version ' + config.version + ').');
    } catch (e) {
      if (e.status === 422) showErrors(f, summary, e.problem.errors || [{ field: '', message: e.message, plain: true }]);
      else if (e.status === 409) showErrors(f, summary, [{ field: 'slug', message: capital(e.message) + '.', plain: true }]);
      else if (e.status === 412) showErrors(f, summary, [{ field: '', plain: true,
        message: 'Someone else changed the configuration meanwhile. Use Reload to see the current version, then make your change again.' }]);
      else fail(e);
    }
  });

  // --- features -------------------------------------------------------------------

  async function loadFeatures() {
    var list = (await api('GET', API + '/features')).data.data;
    $('feature-list').replaceChildren.apply($('feature-list'), list.map(function (f) {
      var id = 'feat-' + f.id;
      var box = el('input', { type: 'checkbox', id: id, role: 'switch', 'aria-describedby': id + '-desc' });
      box.checked = f.enabled;
      box.addEventListener('change', async function () {
        box.disabled = true;
        try {
          var nf = (await api('PATCH', API + '/features/' + encodeURIComponent(f.id) + '/toggle', { enabled: box.checked })).data;
          box.checked = nf.enabled;
          toast(f.name + (nf.enabled ? ' is now shown to customers.' : ' is now hidden from customers.'));
        } catch (e) {
          box.checked = !box.checked;
          fail(e);
        } finally {
          box.disabled = false;
          box.focus();
        }
      });
      return el('li', { class: 'feature' },
        box,
        el('div', {}, el('label', { for: id, text: f.name }), el('p', { id: id + '-desc', class: 'muted', text: f.description })));
    }));
  }

  // --- invite ------------------------------------------------------------------------

  function showInvitation(inv) {
    var out = $('invite-result');
    var children = [el('p', { text: 'Invitation sent to ' + inv.email + '. It expires ' + fmt(inv.expiresAt) + '.' })];
    if (inv.acceptUrl) {
      children.push(el('label', { for: 'invite-link', text: 'Invitation link (also in the email)' }),
        el('input', { id: 'invite-link', type: 'text', readonly: true, value: inv.acceptUrl, spellcheck: 'false' }));
    }
    out.replaceChildren.apply(out, children);
    out.hidden = false;
  }

  $('invite-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = ev.target, summary = $('invite-summary');
    var val = function (n) { return f.elements.namedItem(n).value.trim(); };
    var body = { email: val('email'), role: val('role') };
    ['firstName', 'lastName', 'message'].forEach(function (k) { if (val(k)) body[k] = val(k); });
    clearErrors(f, summary);
    $('invite-result').hidden = true;
    try {
      var inv = (await api('POST', API + '/invitations', body)).data;
      f.reset();
      showInvitation(inv);
      toast('Invitation sent to ' + inv.email + '.');
    } catch (e) {
      if (e.status === 422) showErrors(f, summary, e.problem.errors || []);
      else if (e.status === 409) showErrors(f, summary, [{ field: 'email', message: capital(e.message) + '.', plain: true }]);
      else fail(e);
    }
  });

  function contactItem(c) {
    var name = fullName(c) || c.email || 'Unnamed contact';
    var btn = el('button', { type: 'button', class: 'btn btn-small' }, 'Invite', el('span', { class: 'visually-hidden', text: ' ' + name }));
    if (!c.email) { btn.disabled = true; btn.title = 'This contact has no email address'; }
    btn.addEventListener('click', async function () {
      btn.disabled = true;
      try {
        var inv = (await api('POST', API + '/users/invite', { contactId: c.id, role: $('contact-role').value })).data;
        btn.replaceChildren('Invited');
        toast('Invitation sent to ' + inv.email + '.');
      } catch (e) {
        btn.disabled = false;
        fail(e);
      }
    });
    var meta = [c.email || 'no email address', c.company].filter(Boolean).join(' · ');
    return el('li', { class: 'contact' }, el('div', {}, el('strong', { text: name }), el('br'), el('span', { class: 'muted', text: meta })), btn);
  }

  $('contact-search').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var q = $('contact-q').value.trim();
    var params = new URLSearchParams({ limit: '10' });
    if (q) params.set('q', q);
    $('contact-status').textContent = 'Searching…';
    try {
      var list = (await api('GET', '/v1/contacts?' + params)).data.data;
      $('contact-status').textContent = list.length ? list.length + ' found.' : 'No contacts match.';
      $('contact-results').replaceChildren.apply($('contact-results'), list.map(contactItem));
    } catch (e) {
      $('contact-status').textContent = '';
      fail(e);
    }
  });

  // --- lists with paging: users, invitations, sessions, audit --------------------

  function formParams(id) {
    var out = {};
    var f = $(id);
    Array.prototype.forEach.call(f.elements, function (i) { if (i.name && i.value.trim()) out[i.name] = i.value.trim(); });
    return out;
  }

  var lists = {
    users: { path: API + '/users', params: function () { return formParams('users-filter'); }, row: userRow },
    invitations: { path: API + '/invitations', params: function () { return formParams('inv-filter'); }, row: invitationRow },
    sessions: { path: API + '/sessions', params: function () { return {}; }, row: sessionRow },
    audit: { path: API + '/audit', params: function () { return {}; }, row: auditRow },
    tickets: { path: API + '/tickets', params: function () { return formParams('tickets-filter'); }, row: ticketRow },
    documents: { path: API + '/documents', params: function () { return {}; }, row: documentRow },
    articles: { path: API + '/kb/articles', params: function () { return formParams('articles-filter'); }, row: articleRow }
  };

  async function loadList(name, reset) {
    var L = lists[name];
    var p = new URLSearchParams(L.params());
    p.set('limit', '25');
    if (!reset && L.next) p.set('cursor', L.next);
    var page = (await api('GET', L.path + '?' + p)).data;
    var body = $(name + '-body');
    var rows = page.data.map(L.row);
    if (reset) body.replaceChildren.apply(body, rows); else body.append.apply(body, rows);
    L.next = page.nextCursor || '';
    $(name + '-more').hidden = !L.next;
    $(name + '-empty').hidden = body.children.length > 0;
  }

  Object.keys(lists).forEach(function (name) {
    $(name + '-more').addEventListener('click', function () { loadList(name, false).catch(fail); });
  });
  $('users-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadList('users', true).catch(fail); });
  $('inv-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadList('invitations', true).catch(fail); });

  function actionButton(text, who, kind, onclick) {
    return el('button', { type: 'button', class: 'btn btn-small' + (kind ? ' btn-' + kind : ''), onclick: onclick },
      text, el('span', { class: 'visually-hidden', text: ' ' + who }));
  }

  // confirmThen asks in a modal dialog (Escape or Cancel says no), then runs
  // action; focus goes back where it was, or to the panel if that is gone.
  function confirmThen(title, text, okLabel, action) {
    var d = $('confirm');
    var opener = document.activeElement;
    var panel = opener && opener.closest ? opener.closest('[role="tabpanel"]') : null;
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    d.returnValue = '';
    d.addEventListener('close', async function () {
      var ok = d.returnValue === 'ok';
      if (ok) {
        try { await action(); } catch (e) { fail(e); }
      }
      if (opener && document.contains(opener)) opener.focus();
      else if (panel) panel.focus();
    }, { once: true });
    d.showModal();
    $('confirm-cancel').focus();
  }
  $('confirm-ok').addEventListener('click', function () { $('confirm').close('ok'); });
  $('confirm-cancel').addEventListener('click', function () { $('confirm').close('cancel'); });

  function userRow(u) {
    var who = fullName(u) || u.email;
    var actions = el('td', { class: 'row-actions' });
    if (u.status !== 'revoked') {
      actions.append(actionButton('Revoke access', who, 'danger', function () {
        confirmThen('Revoke access for ' + who + '?',
          'Every session of ' + u.email + ' ends at once and sign-in is refused. The user is kept (status revoked) and can be invited again.',
          'Revoke access', async function () {
            await api('DELETE', API + '/users/' + encodeURIComponent(u.id) + '/access');
            toast('Access revoked for ' + u.email + '.');
            await loadList('users', true);
          });
      }));
    }
    actions.append(actionButton('Remove', who, 'danger', function () {
      confirmThen('Remove ' + who + '?',
        'The portal user ' + u.email + ' is deleted, a pending invitation is cancelled and every session ends. This cannot be undone.',
        'Remove user', async function () {
          await api('DELETE', API + '/users/' + encodeURIComponent(u.id));
          toast(u.email + ' was removed.');
          await loadList('users', true);
        });
    }));
    return el('tr', { 'data-user': u.email },
      el('td', { text: fullName(u) || '—' }), el('td', { text: u.email }), el('td', {}, badge(u.status)),
      el('td', {}, when(u.lastLoginAt)), actions);
  }

  function invitationRow(inv) {
    var actions = el('td', { class: 'row-actions' });
    var status = inv.status;
    if (status === 'pending') {
      actions.append(actionButton('Resend', inv.email, '', async function () {
        try {
          var n = (await api('POST', API + '/invitations/' + encodeURIComponent(inv.id) + '/resend')).data;
          toast('A new link was sent to ' + n.email + '; the old link no longer works.');
          await loadList('invitations', true);
        } catch (e) { fail(e); }
      }));
      actions.append(actionButton('Cancel', inv.email, 'danger', function () {
        confirmThen('Cancel the invitation of ' + inv.email + '?', 'The link in the email stops working at once.', 'Cancel invitation', async function () {
          await api('DELETE', API + '/invitations/' + encodeURIComponent(inv.id));
          toast('The invitation of ' + inv.email + ' was cancelled.');
          await loadList('invitations', true);
        });
      }));
    }
    var d = inv.delivery || {};
    var delivery = el('span', { title: d.lastError || null, text: (d.status || '—') + (d.attempts > 1 ? ' (' + d.attempts + ' attempts)' : '') });
    return el('tr', { 'data-invitation': inv.email },
      el('td', { text: inv.email }), el('td', {}, badge(status)), el('td', {}, delivery),
      el('td', {}, when(inv.createdAt)), el('td', {}, when(inv.expiresAt)), actions);
  }

  function sessionRow(s) {
    var ua = s.userAgent || 'unknown';
    var actions = el('td', { class: 'row-actions' }, actionButton('End session', 'of ' + s.email, '', async function () {
      try {
        await api('DELETE', API + '/sessions/' + encodeURIComponent(s.id));
        toast('The session of ' + s.email + ' was ended.');
        await loadList('sessions', true);
        $('panel-sessions').focus();
      } catch (e) { fail(e); }
    }));
    return el('tr', { 'data-session': s.email },
      el('td', { text: s.email }), el('td', {}, when(s.createdAt)), el('td', {}, when(s.lastSeenAt)),
      el('td', {}, when(s.expiresAt)), el('td', { text: s.ip || '—' }),
      el('td', { class: 'ua', title: ua, text: ua.length > 48 ? ua.slice(0, 47) + '…' : ua }), actions);
  }

  function auditRow(a) {
    return el('tr', {},
      el('td', {}, when(a.at)), el('td', { text: a.actor }), el('td', {}, el('code', { text: a.action })),
      el('td', { text: a.targetType + (a.targetId ? ' ' + a.targetId : '') }), el('td', { text: a.detail || '' }));
  }

  // --- tickets: the queue, a thread, reply, internal note, status -------------

  var currentTicket = null;

  function ticketRow(tk) {
    var open = el('button', { type: 'button', class: 'btn-link', 'data-ticket': tk.id, text: tk.subject,
      onclick: function () { openTicket(tk.id).catch(fail); } });
    return el('tr', { 'data-ticket-row': tk.id },
      el('td', {}, open), el('td', {}, badge(tk.status)), el('td', { text: tk.priority }),
      el('td', { text: tk.accountId || '—' }), el('td', { text: tk.assignee || '—' }), el('td', {}, when(tk.updatedAt)));
  }

  function messageItem(m) {
    var who = m.author.name + (m.author.kind === 'staff' ? ' (staff' + (m.author.id ? ', ' + m.author.id : '') + ')' : '');
    return el('li', { class: 'message' + (m.internal ? ' message-internal' : '') + ' message-' + m.author.kind, 'data-message': m.id },
      el('p', { class: 'message-meta' }, el('strong', { text: who }), ' · ', when(m.createdAt),
        m.internal ? el('span', { class: 'status status-internal', text: 'internal note' }) : null),
      el('div', { class: 'message-body', text: m.body }));
  }

  async function openTicket(id) {
    var tk = (await api('GET', API + '/tickets/' + encodeURIComponent(id))).data;
    currentTicket = tk;
    $('ticket-title').textContent = tk.subject;
    $('ticket-meta').textContent = 'Status ' + tk.status + ' · priority ' + tk.priority + ' · account ' + (tk.accountId || 'none') +
      ' · opened ' + fmt(tk.createdAt) + ' · ' + tk.messageCount + ' messages, ' + tk.noteCount + ' internal notes';
    $('ticket-thread').replaceChildren.apply($('ticket-thread'), tk.messages.map(messageItem));
    var u = $('ticket-update');
    u.elements.namedItem('status').value = tk.status;
    u.elements.namedItem('priority').value = tk.priority;
    u.elements.namedItem('assignee').value = tk.assignee || '';
    clearErrors(u, $('ticket-update-summary'));
    clearErrors($('ticket-reply'), $('ticket-reply-summary'));
    $('ticket-detail').hidden = false;
    $('ticket-detail').focus();
  }

  $('tickets-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadList('tickets', true).catch(fail); });

  $('ticket-reply').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    if (!currentTicket) return;
    var f = ev.target, summary = $('ticket-reply-summary');
    var internal = $('ticket-internal').checked;
    try {
      await api('POST', API + '/tickets/' + encodeURIComponent(currentTicket.id) + '/messages',
        { body: $('ticket-reply-body').value, internal: internal });
      f.reset();
      toast(internal ? 'Internal note added.' : 'Reply sent to the customer.');
      await openTicket(currentTicket.id);
      await loadList('tickets', true);
    } catch (e) {
      if (e.status === 422) showErrors(f, summary, e.problem.errors || [{ field: '', message: e.message, plain: true }]);
      else fail(e);
    }
  });

  $('ticket-update').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    if (!currentTicket) return;
    var f = ev.target, summary = $('ticket-update-summary');
    var patch = {
      status: f.elements.namedItem('status').value,
      priority: f.elements.namedItem('priority').value,
      assignee: f.elements.namedItem('assignee').value.trim()
    };
    try {
      await api('PATCH', API + '/tickets/' + encodeURIComponent(currentTicket.id), patch, { 'Content-Type': 'application/merge-patch+json' });
      toast('Ticket saved.');
      await openTicket(currentTicket.id);
      await loadList('tickets', true);
    } catch (e) {
      if (e.status === 422) showErrors(f, summary, e.problem.errors || [{ field: '', message: e.message, plain: true }]);
      else fail(e);
    }
  });
  // --- documents: upload (multipart, streamed by the browser) and list -------

  function size(n) {
    if (n < 1024) return n + ' bytes';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1024 * 1024 * 1024) return (n / (1024 * 1024)).toFixed(1) + ' MiB';
    return (n / (1024 * 1024 * 1024)).toFixed(2) + ' GiB';
  }

  // upload posts a form as multipart/form-data: the browser sets the
  // boundary and streams the file.
  async function upload(path, form) {
    var res;
    try {
      res = await fetch(path, { method: 'POST', headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
        body: form, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, { detail: 'The server could not be reached.' });
    }
    var data = null;
    try { data = JSON.parse(await res.text()); } catch (e) { data = null; }
    if (res.status === 401) {
      signOut('The token was refused: it is invalid or has expired. Paste a new one.');
      throw new ApiError(401, data);
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  $('document-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = ev.target, summary = $('document-summary'), button = $('document-upload');
    clearErrors(f, summary);
    var file = f.elements.namedItem('file').files[0];
    var title = f.elements.namedItem('title').value.trim();
    var missing = [];
    if (!title) missing.push({ field: 'title', message: 'is required' });
    if (!file) missing.push({ field: 'file', message: 'is required' });
    if (missing.length) { showErrors(f, summary, missing); return; }
    var body = new FormData();
    body.append('title', title);
    var account = f.elements.namedItem('accountId').value.trim();
    if (account) body.append('accountId', account);
    body.append('file', file, file.name);
    button.disabled = true;
    try {
      var d = await upload(API + '/documents', body);
      f.reset();
      toast('"' + d.title + '" (' + size(d.size) + ') is uploaded' + (d.accountId ? ' for account ' + d.accountId : ' for every customer') + '.');
      await loadList('documents', true);
    } catch (e) {
      if (e.status === 422) showErrors(f, summary, e.problem.errors || []);
      else if (e.status === 413 || e.status === 507) showErrors(f, summary, [{ field: 'file', message: e.message, plain: true }]);
      else fail(e);
    } finally {
      button.disabled = false;
    }
  });

  function documentRow(d) {
    var actions = el('td', { class: 'row-actions' }, actionButton('Delete', d.title, 'danger', function () {
      confirmThen('Delete "' + d.title + '"?', 'Customers can no longer download ' + d.fileName + '. This cannot be undone.',
        'Delete document', async function () {
          await api('DELETE', API + '/documents/' + encodeURIComponent(d.id));
          toast('"' + d.title + '" was deleted.');
          await loadList('documents', true);
        });
    }));
    return el('tr', { 'data-document': d.title },
      el('td', { text: d.title }), el('td', { title: d.contentType, text: d.fileName }), el('td', { text: size(d.size) }),
      el('td', { text: d.accountId || 'Every customer' }), el('td', {}, when(d.createdAt)), actions);
  }

  // --- help articles: list, Markdown editor with preview, save, delete -------

  var ARTICLE_FIELDS = ['title', 'slug', 'category', 'status', 'body'];
  var MAX_ARTICLE_BODY = 200 * 1024; // bytes, as the server counts them
  var SLUG_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
  var currentArticle = null; // the article being edited; null for a new one
  var slugTouched = false;

  function slugify(s) {
    return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
      .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100).replace(/-+$/, '');
  }

  function articleRow(a) {
    var actions = el('td', { class: 'row-actions' },
      actionButton('Edit', a.title, '', function () { editArticle(a.id).catch(fail); }),
      actionButton('Delete', a.title, 'danger', function () { deleteArticle(a); }));
    return el('tr', { 'data-article': a.slug },
      el('td', { text: a.title }), el('td', {}, el('code', { text: a.slug })), el('td', { text: a.category || '—' }),
      el('td', {}, badge(a.status)), el('td', {}, when(a.updatedAt)), actions);
  }

  function articleForm() { return $('article-form'); }

  function clearPreview() {
    $('article-preview-body').replaceChildren();
    $('article-preview-stale').hidden = true;
    $('article-preview').hidden = true;
  }

  function openEditor(a) {
    var f = articleForm();
    currentArticle = a;
    clearErrors(f, $('article-summary'));
    clearPreview();
    f.reset();
    ARTICLE_FIELDS.forEach(function (name) {
      f.elements.namedItem(name).value = a ? (a[name] || '') : (name === 'status' ? 'draft' : '');
    });
    slugTouched = !!a;
    $('article-editor-title').textContent = a ? 'Edit “' + a.title + '”' : 'New article';
    $('article-delete').hidden = !a;
    $('article-editor').hidden = false;
    $('art-title').focus();
  }

  function closeEditor() {
    currentArticle = null;
    clearPreview();
    $('article-editor').hidden = true;
  }

  async function editArticle(id) {
    var a = (await api('GET', API + '/kb/articles/' + encodeURIComponent(id))).data;
    openEditor(a);
  }

  function deleteArticle(a) {
    confirmThen('Delete “' + a.title + '”?',
      'The article leaves the Help page and its search at once, and its address ' + a.slug + ' is free again. This cannot be undone.',
      'Delete article', async function () {
        await api('DELETE', API + '/kb/articles/' + encodeURIComponent(a.id));
        var editing = currentArticle && currentArticle.id === a.id;
        if (editing) closeEditor();
        toast('“' + a.title + '” was deleted.');
        await loadList('articles', true);
        // The editor's Delete button is hidden now: focus goes to the panel.
        if (editing) $('panel-articles').focus();
      });
  }

  function articleValues() {
    var f = articleForm(), v = {};
    ARTICLE_FIELDS.forEach(function (name) { v[name] = f.elements.namedItem(name).value; });
    v.title = v.title.trim();
    v.slug = v.slug.trim();
    v.category = v.category.trim();
    return v;
  }

  function bodyProblems(body) {
    var n = new TextEncoder().encode(body).length;
    return n > MAX_ARTICLE_BODY ? [{ field: 'body', message: 'must be at most ' + MAX_ARTICLE_BODY + ' bytes (it is ' + n + ')' }] : [];
  }

  // articleProblems checks what the server would refuse anyway, so that
  // the form answers at once.
  function articleProblems(v) {
    var out = [];
    if (!v.title) out.push({ field: 'title', message: 'is required' });
    if (!v.slug) out.push({ field: 'slug', message: 'is required' });
    else if (!SLUG_RE.test(v.slug)) out.push({ field: 'slug', message: 'must be lowercase letters and digits in words joined by single hyphens, such as reset-your-password' });
    return out.concat(bodyProblems(v.body));
  }

  // articleFailure shows a refused save or preview next to the fields.
  function articleFailure(e) {
    var f = articleForm(), summary = $('article-summary');
    if (e.status === 422) showErrors(f, summary, e.problem.errors || [{ field: '', message: e.message, plain: true }]);
    else if (e.status === 409) showErrors(f, summary, [{ field: 'slug', message: capital(e.message) + '.', plain: true }]);
    else if (e.status === 413) showErrors(f, summary, [{ field: 'body', message: capital(e.message), plain: true }]);
    else fail(e);
  }

  $('article-new').addEventListener('click', function () { openEditor(null); });
  $('article-close').addEventListener('click', function () { closeEditor(); $('panel-articles').focus(); });
  $('article-delete').addEventListener('click', function () { if (currentArticle) deleteArticle(currentArticle); });
  $('articles-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadList('articles', true).catch(fail); });
  $('art-body').addEventListener('input', function () {
    if (!$('article-preview').hidden) $('article-preview-stale').hidden = false;
  });
  $('art-slug').addEventListener('input', function () { slugTouched = $('art-slug').value !== ''; });
  $('art-title').addEventListener('input', function () {
    if (!slugTouched) $('art-slug').value = slugify($('art-title').value);
  });

  $('article-preview-button').addEventListener('click', async function () {
    var f = articleForm(), summary = $('article-summary'), button = $('article-preview-button');
    clearErrors(f, summary);
    var body = f.elements.namedItem('body').value;
    var bad = bodyProblems(body);
    if (bad.length) { showErrors(f, summary, bad); return; }
    button.disabled = true;
    try {
      var html = (await api('POST', API + '/kb/preview', { body: body })).data.html;
      // Sanitized by the server, the same way as the published article;
      // DOMParser builds it inert, and its nodes are moved in as they are.
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var out = $('article-preview-body');
      out.replaceChildren.apply(out, Array.prototype.slice.call(doc.body.childNodes));
      if (!out.childNodes.length) out.append(el('p', { class: 'muted', text: 'The text is empty.' }));
      $('article-preview-stale').hidden = true;
      $('article-preview').hidden = false;
      $('article-preview').focus();
    } catch (e) {
      articleFailure(e);
    } finally {
      button.disabled = false;
    }
  });

  $('article-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = ev.target, summary = $('article-summary'), button = $('article-save');
    clearErrors(f, summary);
    var v = articleValues();
    var bad = articleProblems(v);
    if (bad.length) { showErrors(f, summary, bad); return; }
    button.disabled = true;
    try {
      var a;
      if (currentArticle) {
        a = (await api('PATCH', API + '/kb/articles/' + encodeURIComponent(currentArticle.id), v,
          { 'Content-Type': 'application/merge-patch+json' })).data;
      } else {
        a = (await api('POST', API + '/kb/articles', v)).data;
      }
      toast('“' + a.title + '” is saved' + (a.status === 'published' ? ' and published: customers see it on the Help page.' : ' as a draft: customers do not see it.'));
      closeEditor();
      await loadList('articles', true);
      var row = document.querySelector('tr[data-article="' + a.slug + '"] button');
      (row || $('panel-articles')).focus();
    } catch (e) {
      articleFailure(e);
    } finally {
      button.disabled = false;
    }
  });

  start();
})();
