/** Every libp2p protocol of the mesh (identify, ping, AutoNAT) is spoken under this prefix. */
export const PROTOCOL_PREFIX = 'mycel';
