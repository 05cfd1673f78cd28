/**
 * In the page, simple-peer's WebRTC is the browser's own: the direct transport imports
 * `@roamhq/wrtc` (Node's binary), which the web build replaces with this module.
 */
export default {
  RTCPeerConnection: globalThis.RTCPeerConnection,
  RTCSessionDescription: globalThis.RTCSessionDescription,
  RTCIceCandidate: globalThis.RTCIceCandidate,
};
