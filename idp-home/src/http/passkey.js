// Passkeys (WebAuthn) on the home IdP's pages: the one script they load (CSP script-src 'self').
// A button #idaas-passkey says what to do in data-flow: "register" (account security page),
// "mfa" (the second sign-in step), "saml" or "account" (passwordless sign-in). The script asks
// the IdP for options (data-start), calls navigator.credentials, and posts the answer as a form
// field, so the IdP answers with a page as for any form.
(function () {
  'use strict';
  var button = document.getElementById('idaas-passkey');
  if (!button) {
    return;
  }
  var status = document.getElementById('idaas-passkey-status');
  function say(message) {
    if (status) {
      status.textContent = message;
    }
  }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    button.disabled = true;
    say('This browser cannot use passkeys.');
    return;
  }
  function b64(buffer) {
    var bytes = new Uint8Array(buffer);
    var s = '';
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function unb64(text) {
    var t = text.replace(/-/g, '+').replace(/_/g, '/');
    while (t.length % 4) {
      t += '=';
    }
    var s = atob(t);
    var bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) {
      bytes[i] = s.charCodeAt(i);
    }
    return bytes.buffer;
  }
  function post(url, fields) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(fields)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) {
          throw new Error(j.detail || 'The passkey could not be used.');
        }
        return j;
      });
    });
  }
  function submit(url, fields) {
    var f = document.createElement('form');
    f.method = 'post';
    f.action = url;
    Object.keys(fields).forEach(function (k) {
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = k;
      input.value = fields[k];
      f.appendChild(input);
    });
    document.body.appendChild(f);
    f.submit();
  }
  function attestation(c) {
    return JSON.stringify({
      id: c.id,
      rawId: b64(c.rawId),
      type: c.type,
      response: {
        attestationObject: b64(c.response.attestationObject),
        clientDataJSON: b64(c.response.clientDataJSON)
      },
      extensions: {}
    });
  }
  function assertion(c) {
    return JSON.stringify({
      id: c.id,
      rawId: b64(c.rawId),
      type: c.type,
      response: {
        authenticatorData: b64(c.response.authenticatorData),
        clientDataJSON: b64(c.response.clientDataJSON),
        signature: b64(c.response.signature),
        userHandle: c.response.userHandle ? b64(c.response.userHandle) : null
      },
      extensions: {}
    });
  }
  function get(options) {
    var pk = options.publicKey;
    pk.challenge = unb64(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = unb64(c.id);
    });
    return navigator.credentials.get({ publicKey: pk });
  }
  function field(form, name) {
    var input = form && form.elements[name];
    return input ? input.value : '';
  }
  button.addEventListener('click', function () {
    var flow = button.dataset.flow;
    var form = button.form || document.querySelector('form');
    var csrf = button.dataset.csrf || field(form, 'csrf');
    say('Follow your browser\u2019s instructions\u2026');
    var done;
    if (flow === 'register') {
      done = post(button.dataset.start, { csrf: csrf }).then(function (options) {
        var pk = options.publicKey;
        pk.challenge = unb64(pk.challenge);
        pk.user.id = unb64(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) {
          c.id = unb64(c.id);
        });
        return navigator.credentials.create({ publicKey: pk }).then(function (c) {
          var name = document.getElementById('idaas-passkey-name');
          submit(button.dataset.finish, {
            csrf: options.csrf,
            name: name ? name.value : '',
            credential: attestation(c)
          });
        });
      });
    } else if (flow === 'mfa') {
      done = post(button.dataset.start, { flow: 'mfa', csrf: csrf }).then(function (options) {
        return get(options).then(function (c) {
          form.elements.passkey.value = assertion(c);
          form.submit();
        });
      });
    } else {
      var uid = field(form, 'uid');
      if (!uid) {
        say('Type your user name first, then choose the passkey.');
        return;
      }
      done = post(button.dataset.start, { flow: flow, csrf: csrf, uid: uid }).then(function (options) {
        return get(options).then(function (c) {
          var remember = form.elements.remember;
          submit(button.dataset.finish, {
            csrf: options.csrf,
            login_csrf: csrf,
            credential: assertion(c),
            remember: remember && remember.checked ? '1' : ''
          });
        });
      });
    }
    done.catch(function (e) {
      say(e && e.message ? e.message : 'The passkey could not be used.');
    });
  });
})();
