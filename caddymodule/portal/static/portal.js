// tokengate token page. Plain JavaScript, no build step. All URLs are
// relative so the page works under any mount point.
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  // api sends a JSON request and resolves to {ok, status, data}.
  function api(method, path, body) {
    var opts = { method: method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      if (res.status === 204) { return { ok: true, status: 204, data: null }; }
      return res.json().then(function (data) {
        return { ok: res.ok, status: res.status, data: data };
      }, function () {
        return { ok: false, status: res.status, data: { error: 'Unexpected answer from the server (HTTP ' + res.status + ').' } };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: 'The server could not be reached; check your connection and try again.' } };
    });
  }

  function say(id, msg, focus) {
    var el = $(id);
    if (!el) { return; }
    el.textContent = msg;
    if (focus) { el.focus(); }
  }

  // Each area has a green success box and a red error box (role="alert"):
  // page ("status"/"error"), admin ("admin-status"/"admin-error") and each
  // kind of other token ("vault-<kind>-msg"/"vault-<kind>-error").
  // succeed and fail fill one box and empty the other.
  function succeed(okId, errId, msg, focus) {
    say(errId, '', false);
    say(okId, msg, focus);
  }
  function fail(okId, errId, msg, focus) {
    say(okId, '', false);
    say(errId, msg, focus);
  }

  // errorOf returns the server's error message of a failed api() answer or,
  // when the body holds none (not JSON, another shape), a readable fallback.
  function errorOf(r, what) {
    var e = r.data && r.data.error;
    if (typeof e === 'string' && e !== '') { return e; }
    return what + ' failed (HTTP ' + r.status + ').';
  }

  var refreshFailed = 'The list could not be refreshed; reload the page.';

  // refresh re-reads the page and swaps in the server-rendered sections
  // (list, banner, rejections, admin view). The secret is never part of them.
  // It resolves to false, after saying so in the page's error box, when the
  // page could not be re-read.
  function refresh() {
    return fetch(window.location.pathname + window.location.search, {
      headers: { 'Accept': 'text/html' }, credentials: 'same-origin', cache: 'no-store'
    }).then(function (res) {
      if (!res.ok) { throw new Error('HTTP ' + res.status); }
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var olds = document.querySelectorAll('[data-refresh]');
      for (var i = 0; i < olds.length; i++) {
        var fresh = doc.getElementById(olds[i].id);
        if (fresh) { olds[i].replaceWith(document.adoptNode(fresh)); }
      }
      return true;
    }).catch(function () {
      fail('status', 'error', refreshFailed, false);
      return false;
    });
  }

  // refreshThen refreshes, then puts msg into the success box okId (which
  // the refresh may have replaced); a failed refresh stays in the error box.
  function refreshThen(okId, errId, msg) {
    return refresh().then(function (ok) {
      succeed(okId, errId, msg, true);
      if (!ok) { say('error', refreshFailed, false); }
    });
  }

  // Expiry date meaning, kept in step with the date input. Its wording is
  // the page's: the text without a date as rendered, the one with a date in
  // data-dated ("{date}" stands for the chosen date).
  var dateInput = $('expires_on');
  var meaning = $('expiry-meaning');
  var undated = meaning ? meaning.textContent : '';
  function updateMeaning() {
    if (!dateInput || !meaning) { return; }
    var v = dateInput.value;
    meaning.textContent = v ? meaning.getAttribute('data-dated').replace('{date}', v) : undated;
  }
  if (dateInput) {
    dateInput.addEventListener('input', updateMeaning);
    dateInput.addEventListener('change', updateMeaning);
    updateMeaning();
  }

  var created = $('created');
  var secret = $('secret');
  function hideSecret() {
    if (secret) { secret.value = ''; }
    if (created) { created.hidden = true; }
    say('copy-status', '', false);
  }

  // clearVaultInputs empties the "Other tokens" password inputs: a typed
  // credential never outlives the page (form cache, back/forward cache).
  function clearVaultInputs() {
    var ins = document.querySelectorAll('form.vault-form input[name="secret"]');
    for (var i = 0; i < ins.length; i++) { ins[i].value = ''; }
  }
  // Never bring a secret back from the form cache or the back/forward cache.
  window.addEventListener('pageshow', function () { hideSecret(); clearVaultInputs(); });
  window.addEventListener('pagehide', function () { hideSecret(); clearVaultInputs(); });

  // Restrictions of a new token: the allow-list is one entry a line (commas
  // and spaces separate entries too), the scopes are the ticked boxes. The
  // server checks both and names a wrong entry.
  var ipsInput = $('allowed_ips');
  function allowedIPs() {
    if (!ipsInput) { return []; }
    return ipsInput.value.split(/[\s,;]+/).filter(function (e) { return e !== ''; });
  }
  function checkedScopes() {
    var boxes = document.querySelectorAll('#create-form input[name="scopes"]:checked');
    var out = [];
    for (var i = 0; i < boxes.length; i++) { out.push(boxes[i].value); }
    return out;
  }
  // setRestrictions fills the form with a token's restrictions (Replace):
  // ips one a line, scopes separated by spaces. It returns the scopes the
  // form no longer offers (the operator removed them).
  function setRestrictions(ips, scopes) {
    if (ipsInput) { ipsInput.value = ips; }
    var names = scopes ? scopes.split(' ') : [];
    var boxes = document.querySelectorAll('#create-form input[name="scopes"]');
    var offered = [];
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].checked = names.indexOf(boxes[i].value) >= 0;
      offered.push(boxes[i].value);
    }
    return names.filter(function (n) { return offered.indexOf(n) < 0; });
  }
  var addMyIP = $('add-my-ip');
  if (addMyIP && ipsInput) {
    addMyIP.addEventListener('click', function () {
      var ip = addMyIP.getAttribute('data-ip');
      if (allowedIPs().indexOf(ip) < 0) {
        var v = ipsInput.value.replace(/\s+$/, '');
        ipsInput.value = v ? v + '\n' + ip : ip;
      }
      ipsInput.focus();
    });
  }

  var form = $('create-form');
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      say('form-error', '', false);
      hideSecret(); // a previous secret must not pass for the new one
      var button = $('create-button');
      button.disabled = true;
      var date = dateInput.value;
      var body = { label: $('label').value, expires_on: date ? date : null };
      var ips = allowedIPs();
      if (ips.length) { body.allowed_ips = ips; }
      var scopes = checkedScopes();
      if (scopes.length) { body.scopes = scopes; }
      api('POST', 'api/tokens', body).then(function (r) {
        button.disabled = false;
        if (!r.ok) {
          say('form-error', errorOf(r, 'Creating the token'), false);
          $('label').focus();
          return;
        }
        $('created-label').textContent = r.data.label;
        secret.value = r.data.token;
        created.hidden = false;
        form.reset();
        updateMeaning();
        say('copy-status', '', false);
        secret.focus();
        secret.select();
        return refresh();
      });
    });
  }

  var copy = $('copy');
  if (copy) {
    copy.addEventListener('click', function () {
      var value = secret.value;
      function done(ok) {
        say('copy-status', ok ? 'Copied to the clipboard.' : 'Copying failed: the token is selected, press Ctrl+C (or ⌘C).', false);
      }
      function fallback() {
        secret.focus();
        secret.select();
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
        done(ok);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  }
  var hide = $('hide-secret');
  if (hide) {
    hide.addEventListener('click', function () {
      hideSecret();
      $('label').focus();
    });
  }

  function replace(button) {
    var label = button.getAttribute('data-label');
    hideSecret();
    $('label').value = label;
    var ips = button.getAttribute('data-allowed-ips') || '';
    var scopes = button.getAttribute('data-scopes') || '';
    var gone = setRestrictions(ips, scopes);
    say('form-error', '', false);
    dateInput.value = '';
    updateMeaning();
    form.scrollIntoView();
    dateInput.focus();
    succeed('status', 'error', 'The form is filled in with the label “' + label + '”' + (ips || scopes ? ' and its restrictions' : '') +
      ': choose an expiry date and create the new token, then revoke the old one.' +
      (gone.length ? ' The scopes ' + gone.join(', ') + ' are no longer offered: tick the ones the new token needs.' : ''), false);
  }

  function revoke(button, admin) {
    var label = button.getAttribute('data-label');
    var id = button.getAttribute('data-id');
    var owner = button.getAttribute('data-owner');
    var question = admin
      ? 'Revoke the token “' + label + '” of ' + owner + '? Anything using it stops working at once.'
      : 'Revoke the token “' + label + '”? Anything using it stops working at once.';
    if (!window.confirm(question)) { return; }
    var path = (admin ? 'api/admin/tokens/' : 'api/tokens/') + encodeURIComponent(id);
    var okId = admin ? 'admin-status' : 'status';
    var errId = admin ? 'admin-error' : 'error';
    api('DELETE', path).then(function (r) {
      if (!r.ok) {
        fail(okId, errId, errorOf(r, 'Revoking'), true);
        return;
      }
      return refreshThen(okId, errId, 'Token “' + label + '” revoked.');
    });
  }

  // Other tokens (vault): the credential goes to the server once and is
  // never put back into the page; only its last 4 characters come back.
  function vaultSave(f) {
    var kind = f.getAttribute('data-vault-kind');
    var label = f.getAttribute('data-vault-label');
    var input = f.elements.secret;
    var okId = 'vault-' + kind + '-msg';
    var errId = 'vault-' + kind + '-error';
    say(errId, '', false);
    say(okId, '', false);
    if (!input.value.trim()) {
      say(errId, 'Paste your ' + label + ' first.', false);
      input.focus();
      return;
    }
    var buttons = f.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    api('PUT', 'api/vault/' + encodeURIComponent(kind), { secret: input.value }).then(function (r) {
      for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = false; }
      if (!r.ok) {
        // The value stays (hidden) in the input so that a retry needs no re-paste.
        say(errId, errorOf(r, 'Saving'), false);
        input.focus();
        return;
      }
      input.value = '';
      var hint = r.data && r.data.hint ? ' (…' + r.data.hint + ')' : '';
      return refreshThen(okId, errId, label + ' saved' + hint + '. It will not be shown again.');
    });
  }

  function vaultRemove(button) {
    var kind = button.getAttribute('data-kind');
    var label = button.getAttribute('data-label');
    var okId = 'vault-' + kind + '-msg';
    var errId = 'vault-' + kind + '-error';
    say(errId, '', false);
    say(okId, '', false);
    if (!window.confirm('Remove your stored ' + label + '? The export backend can then no longer use it on your behalf.')) { return; }
    api('DELETE', 'api/vault/' + encodeURIComponent(kind)).then(function (r) {
      if (!r.ok) {
        say(errId, errorOf(r, 'Removing'), false);
        return refresh();
      }
      return refreshThen(okId, errId, label + ' removed.');
    });
  }

  // Owner search as you type (admin view): after a pause in typing, or on
  // Enter, the address becomes ?owner=<typed> (limit kept; the first page of that
  // person's tokens and history; empty: everybody) and the admin view is
  // swapped in place, keeping the caret in the search box.
  var searchTimer = null;
  var searchDelay = 350;
  function searchOwner() {
    clearTimeout(searchTimer);
    var input = $('owner-filter');
    if (!input) { return; }
    var owner = input.value.trim();
    var q = new URLSearchParams(window.location.search);
    q.delete('cursor');
    q.delete('before');
    if (owner) { q.set('owner', owner); } else { q.delete('owner'); }
    var qs = q.toString();
    window.history.replaceState(null, '', qs ? '?' + qs : window.location.pathname);
    refresh().then(function () {
      var fresh = $('owner-filter');
      if (!fresh || fresh === input) { return; }
      // Keep what was typed meanwhile (its own search is pending).
      fresh.value = input.value;
      if (document.activeElement === document.body || document.activeElement === null) {
        fresh.focus();
        var end = fresh.value.length;
        try { fresh.setSelectionRange(end, end); } catch (ignore) { /* not a text input */ }
      }
    });
  }
  document.addEventListener('input', function (e) {
    if (e.target && e.target.id === 'owner-filter') {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(searchOwner, searchDelay);
    }
  });

  // One delegated listener: the sections are replaced on refresh.
  document.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('button[data-action]') : null;
    if (!b) { return; }
    switch (b.getAttribute('data-action')) {
      case 'replace': replace(b); break;
      case 'revoke': revoke(b, false); break;
      case 'admin-revoke': revoke(b, true); break;
      case 'vault-remove': vaultRemove(b); break;
    }
  });

  // Messages link to <page>?replace=<token id>: open that token's Replace
  // at once, then drop the parameter so a reload does not repeat it.
  var replaceTarget = document.querySelector('main[data-replace]');
  if (replaceTarget) {
    var rid = replaceTarget.getAttribute('data-replace');
    var rows = document.querySelectorAll('#tokens tr[data-token-id]');
    for (var ri = 0; ri < rows.length; ri++) {
      var rb = rows[ri].getAttribute('data-token-id') === rid ? rows[ri].querySelector('button[data-action="replace"]') : null;
      if (rb) { replace(rb); break; }
    }
  }
  if (replaceTarget || document.getElementById('replace-gone')) {
    var q = new URLSearchParams(window.location.search);
    q.delete('replace');
    window.history.replaceState(null, '', q.toString() ? '?' + q.toString() : window.location.pathname);
  }

  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.id === 'owner-search') {
      e.preventDefault();
      searchOwner();
    } else if (f.classList && f.classList.contains('vault-form')) {
      e.preventDefault();
      vaultSave(f);
    } else if (f.id === 'revoke-owner-form') {
      e.preventDefault();
      var owner = f.elements.owner.value.trim();
      say('revoke-owner-error', '', false);
      say('admin-error', '', false);
      if (!owner) { say('revoke-owner-error', 'Enter the user id of the person.', false); return; }
      if (!window.confirm('Revoke ALL tokens of ' + owner + '? Everything using them stops working at once.')) { return; }
      api('DELETE', 'api/admin/users/' + encodeURIComponent(owner) + '/tokens').then(function (r) {
        if (!r.ok) { say('revoke-owner-error', errorOf(r, 'Revoking the tokens of ' + owner), false); return; }
        return refreshThen('admin-status', 'admin-error', r.data.revoked + ' token(s) of ' + owner + ' revoked.');
      });
    } else if (f.id === 'cap-form') {
      e.preventDefault();
      var limit = f.elements.max_lifetime.value.trim();
      say('cap-error', '', false);
      say('admin-error', '', false);
      if (!window.confirm('Shorten every token that lives longer than ' + limit + ' from now? This cannot be undone.')) { return; }
      api('POST', 'api/admin/cap', { max_lifetime: limit }).then(function (r) {
        if (!r.ok) { say('cap-error', errorOf(r, 'Applying the cap'), false); return; }
        return refreshThen('admin-status', 'admin-error', r.data.changed + ' token(s) now expire at most ' + limit + ' from now.');
      });
    }
  });
})();
