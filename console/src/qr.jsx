// A QR code drawn in the browser from the string the gateway gives (GET …/qr's `qr`, or a `qr.updated` event's),
// so a new code shows the moment its event arrives.
import QRCode from 'qrcode';
import { useEffect, useState } from 'preact/hooks';

export function QrImage({ value }) {
  const [source, setSource] = useState('');
  useEffect(() => {
    let current = true;
    // Low error correction, as WhatsApp's own codes: the fewest modules for the long login string.
    QRCode.toDataURL(value, { errorCorrectionLevel: 'L', margin: 2, scale: 6 })
      .then((url) => current && setSource(url));
    return () => { current = false; };
  }, [value]);
  return source ? <img class="qr" src={source} alt="QR code: scan it in WhatsApp on the phone" /> : null;
}
