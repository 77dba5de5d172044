// The browser side of passkeys: the WebAuthn API wants ArrayBuffers, the
// gateway speaks base64url JSON. The dashboard calls these two functions.
(function () {
  const b64 = {
    decode(text) {
      const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
      const binary = atob(base64 + '='.repeat((4 - base64.length % 4) % 4));
      return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
    },
    encode(buffer) {
      const bytes = new Uint8Array(buffer);
      let binary = '';
      for (const b of bytes) binary += String.fromCharCode(b);
      return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    },
  };

  // options: the JSON of /api/enroll/begin plus { name }.
  async function create(optionsJson) {
    const o = JSON.parse(optionsJson);
    const credential = await navigator.credentials.create({
      publicKey: {
        challenge: b64.decode(o.challenge),
        rp: o.rp,
        user: { id: new TextEncoder().encode(o.name), name: o.name, displayName: o.name },
        pubKeyCredParams: o.pubKeyCredParams,
        authenticatorSelection: { residentKey: o.residentKey, userVerification: o.userVerification },
        attestation: o.attestation,
      },
    });
    return JSON.stringify({
      client_data_json: b64.encode(credential.response.clientDataJSON),
      attestation_object: b64.encode(credential.response.attestationObject),
    });
  }

  // options: { challenge, rpId, allowCredentials?: [base64url] }.
  async function get(optionsJson) {
    const o = JSON.parse(optionsJson);
    const credential = await navigator.credentials.get({
      publicKey: {
        challenge: b64.decode(o.challenge),
        rpId: o.rpId,
        userVerification: 'required',
        allowCredentials: (o.allowCredentials || []).map((id) => ({ type: 'public-key', id: b64.decode(id) })),
      },
    });
    return JSON.stringify({
      credential_id: b64.encode(credential.rawId),
      authenticator_data: b64.encode(credential.response.authenticatorData),
      client_data_json: b64.encode(credential.response.clientDataJSON),
      signature: b64.encode(credential.response.signature),
    });
  }

  window.tgwPasskey = { create, get };
})();
